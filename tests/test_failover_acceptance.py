"""Issue acceptance: an unmodified app under `opentelemetry-instrument` shows failover and drift."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _json_objects(text: str) -> list[dict]:
    decoder = json.JSONDecoder()
    objects, i = [], 0
    while True:
        i = text.find("{", i)
        if i < 0:
            return objects
        try:
            obj, end = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        objects.append(obj)
        i = end


def test_unmodified_app_under_opentelemetry_instrument():
    bindir = Path(sys.executable).parent
    tool = shutil.which("opentelemetry-instrument", path=str(bindir)) or shutil.which("opentelemetry-instrument")
    assert tool, "opentelemetry-instrument not installed (pip install opentelemetry-distro)"
    env = {**os.environ, "OTEL_SERVICE_NAME": "acme-support", "LLM_DRIFT_WARMUP": "10",
           "OTEL_METRIC_EXPORT_INTERVAL": "600000", "PYTHONPATH": str(REPO / "src")}
    env.pop("LLM_DRIFT_PRIMARY_MODELS", None)
    # the test venv also holds peer OpenAI instrumentations (entry point name `openai`) for the
    # coexistence tests; this test shows llm-drift-otel on its own, as in an app that installed only it
    env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "openai"
    result = subprocess.run(
        [tool, "--traces_exporter", "console", "--metrics_exporter", "console", "--logs_exporter", "none",
         sys.executable, str(REPO / "examples" / "failover_app.py"),
         "--requests", "30", "--fail-from", "15", "--fail-until", "25"],
        capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    spans = [o for o in _json_objects(result.stdout) if "context" in o and "attributes" in o]
    llm = [s for s in spans if "gen_ai.operation.name" in s["attributes"]]
    assert len(llm) == 30 + 10  # 10 failed primary attempts, each followed by a fallback call

    failed = [s for s in llm if "error.type" in s["attributes"]]
    assert len(failed) == 10
    assert {s["attributes"]["error.type"] for s in failed} == {"InternalServerError"}

    fallback = [s for s in llm if s["attributes"].get("llm_drift.fallback.active") is True]
    assert len(fallback) == 10
    for s in fallback:
        a = s["attributes"]
        assert a["llm_drift.fallback.source"] == "chain"
        assert a["llm_drift.fallback.primary"] == "openai/gpt-4o"
        assert a["llm_drift.fallback.reason"] == "InternalServerError"
        assert a["llm_drift.serving.model"] == "mistral-large-2407"
        assert a["llm_drift.shape.drifted"] is True, a
    # each fallback call sits in the same parent span as the failed attempt
    parents_of_failed = {s["parent_id"] for s in failed}
    assert {s["parent_id"] for s in fallback} == parents_of_failed

    primary_ok = [s for s in llm if s["attributes"].get("llm_drift.fallback.active") is False]
    judged = [s for s in primary_ok if "llm_drift.shape.drifted" in s["attributes"]]
    assert len(judged) >= 10  # after warm-up: primaries that differ only in values are not drift
    assert all(s["attributes"]["llm_drift.shape.drifted"] is False for s in judged)

    metrics_text = result.stdout
    assert "llm_drift.responses" in metrics_text and "llm_drift.fallbacks" in metrics_text
