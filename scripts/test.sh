#!/usr/bin/env bash
# The test command: sets up everything the tests need (venv, Python deps, Prometheus) and runs them all.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
if [ -f scripts/install-prometheus.sh ]; then
  bash scripts/install-prometheus.sh
fi
exec .venv/bin/python -m pytest "$@"
