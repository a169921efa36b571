"""Living beside the other OpenAI instrumentations, in either order: nothing breaks, nothing counts twice.

Peers: OpenTelemetry's GenAI `openai-v2`, OpenLLMetry (`opentelemetry-instrumentation-openai`) and
OpenInference. Each cell runs in a fresh process (coexistence_case.py). What a user sees in each
combination is documented in docs/coexistence.md; these tests hold it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PEERS = ("otel-openai-v2", "openllmetry", "openinference")


@lru_cache(maxsize=None)
def run_case(peer: str, order: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(HERE / "coexistence_case.py"), peer, order],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("order", ["ours_first", "peer_first"])
@pytest.mark.parametrize("peer", PEERS)
def test_coexistence(peer, order):
    alone = run_case(peer, "alone")
    both = run_case(peer, order)
    # the app gets exactly what it gets with the peer alone
    assert both["calls"] == alone["calls"]
    assert both["calls"]["plain"].startswith("{")
    # our attributes are on one span per call, judged
    ours = [s for s in both["spans"] if s["ours"]]
    assert len(ours) == 2 and all(s["kind"] == "json" for s in ours), both["spans"]
    assert any(s["scope"] != "llm_drift_otel" for s in both["spans"]), "the peer made no span"
    assert both["responses"] == 2
    # gen_ai.client.operation.duration: one observation per call, whoever records it
    assert both["durations"] in (alone["durations"], 2) and both["durations"] <= 2, (both["durations"], alone)
    # uninstrument ours: the peer keeps working; we record nothing
    assert both["ours_off"]["calls"]["plain"].startswith("{")
    assert not any(s["ours"] for s in both["ours_off"]["spans"])
    assert any(s["scope"] != "llm_drift_otel" for s in both["ours_off"]["spans"])
    # uninstrument the peer (ours back on): ours keeps working, whatever the peer leaves behind
    assert both["peer_off"]["calls"]["plain"].startswith("{")
    assert len([s for s in both["peer_off"]["spans"] if s["ours"]]) == 2
