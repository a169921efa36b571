#!/usr/bin/env bash
# Creates .venv (if needed) and installs the package with its test extras at the pinned test versions.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints/test.txt -e '.[test]'
