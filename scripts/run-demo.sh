#!/usr/bin/env bash
# The main job: sets up the venv and runs `llm-drift-otel demo` -- an instrumented app whose primary LLM
# fails midway, against local mock providers on 127.0.0.1 (no API key, no network), with a live view of
# the serving models, the fallback share, the drift per prompt variant and the alert.
#
# With `prometheus` on PATH the alerts also come from a real Prometheus running the shipped rules
# (install it with scripts/install-prometheus.sh); without it the demo says so and alerts in-process.
#
# Usage: bash scripts/run-demo.sh [demo options]   e.g. --duration 60 --seed 2 --no-prometheus
# DEMO_DURATION (default 40) sets the run's length in seconds; a --duration argument wins.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
exec .venv/bin/python -m llm_drift_otel demo --duration "${DEMO_DURATION:-40}" "$@"
