#!/usr/bin/env bash
# The main job: sets up the venv and runs the failover example against a local mock provider.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
exec .venv/bin/python examples/failover_app.py "$@"
