"""Issue 5 acceptance: drift detection measured on real answers (../shared/corpus), and per-response
detection of structural changes of JSON / tool-call outputs."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import string
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_drift_otel._baseline import Baseline
from llm_drift_otel._contract import Contract
from llm_drift_otel._fingerprint import ModelOutput, ToolCall, fingerprint_output as fp

REPO = Path(__file__).resolve().parents[1]
ALPHA = 0.01


def _corpus() -> Path:
    env = os.environ.get("LLM_DRIFT_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_detection", REPO / "benchmarks" / "detection.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_detection"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def measured():
    corpus = _corpus()
    if not (corpus / "arena_hard_v0.1" / "prompts.jsonl").is_file():
        pytest.skip(f"shared corpus not found at {corpus} (set LLM_DRIFT_CORPUS to the corpus folder)")
    bench = _bench()
    result = bench.detection(corpus, windows=120, window=20, seed=5, alpha=ALPHA)
    return bench, result, bench.summary(result)


def test_cross_vendor_median_detection_at_5_percent_false_alarm(measured):
    _, _, s = measured
    print(s)
    assert s["cross_auc_median"] >= 0.99
    assert s["cross_det5_median"] >= 0.99


def test_cross_vendor_worst_pair(measured):
    _, result, s = measured
    worst = min((v["auc"], pair) for pair, v in result["pairs"].items() if v["cross_vendor"])
    print("worst pair", worst, s)
    assert s["cross_auc_min"] >= 0.95
    assert s["cross_det5_min"] >= 0.80


def test_same_family_pairs_median_auc(measured):
    _, result, s = measured
    assert sum(v["same_family"] for v in result["pairs"].values()) == 4
    assert s["family_auc_median"] >= 0.85


def test_false_alarm_rate_of_drifted_on_same_model_windows_is_at_most_twice_alpha(measured):
    _, result, s = measured
    print(result["false_alarms"])
    assert s["false_alarm_max"] <= 2 * ALPHA + 1e-9


def test_refusal_f1_per_xstest_model():
    corpus = _corpus()
    if not (corpus / "xstest_v2").is_dir():
        pytest.skip(f"shared corpus not found at {corpus} (set LLM_DRIFT_CORPUS to the corpus folder)")
    scores = _bench().refusal(corpus)
    assert set(scores) == {"gpt4", "llama2orig", "mistralguard"}
    for model, r in scores.items():
        assert r["f1"] >= 0.90, (model, r)


# --- structured outputs: per-response verdicts ------------------------------------------------------

RECORD = {"id": 17, "name": "Ada", "tags": ["a", "b"], "score": 0.5, "active": True,
          "address": {"city": "Paris", "zip": "75001"}, "items": [{"sku": "x", "qty": 2}]}


def _baseline_of(outputs) -> Baseline:
    b = Baseline(warmup=20)
    for out in outputs:
        b.learn(fp(out))
    return b


words = st.text(alphabet=string.ascii_letters + " ", max_size=30)
scalars_like = {
    int: st.integers(-10**6, 10**6),
    float: st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: x != int(x)),
    str: words,
    bool: st.booleans(),
}


@st.composite
def same_structure(draw):
    """RECORD with every value redrawn (same type) and arrays of other lengths (>= 1)."""
    return {
        "id": draw(st.integers(0, 10**9)),
        "name": draw(words),
        "tags": draw(st.lists(words, min_size=1, max_size=12)),
        "score": draw(scalars_like[float]),
        "active": draw(st.booleans()),
        "address": {"city": draw(words), "zip": draw(words)},
        "items": draw(st.lists(st.fixed_dictionaries({"sku": words, "qty": st.integers(0, 99)}),
                               min_size=1, max_size=8)),
    }


def _json_baseline() -> Baseline:
    rng = random.Random(0)
    outs = []
    for i in range(40):
        rec = json.loads(json.dumps(RECORD))
        rec["id"], rec["score"] = rng.randrange(1000), rng.random() + 0.01
        rec["tags"] = ["t"] * rng.randint(1, 5)
        outs.append(json.dumps(rec))
    return _baseline_of(outs)


JSON_BASELINE = _json_baseline()


@settings(max_examples=300, deadline=None)
@given(same_structure(), st.sampled_from(["compact", "indent"]))
def test_value_only_json_changes_are_never_flagged(record, style):
    text = json.dumps(record) if style == "compact" else json.dumps(record, indent=2)
    verdict = JSON_BASELINE.judge(fp(text))
    assert verdict.ready and not verdict.drifted, text
    contract = Contract(kind="json", json_keys=tuple(RECORD))
    assert contract.check(text, fp(text))


def _structural_changes() -> list[tuple[str, str]]:
    out = []
    for key in RECORD:
        renamed = {(k + "_v2" if k == key else k): v for k, v in RECORD.items()}
        out.append((f"rename {key}", json.dumps(renamed)))
        out.append((f"drop {key}", json.dumps({k: v for k, v in RECORD.items() if k != key})))
    for key, other in (("id", "17"), ("score", "0.5"), ("active", 1), ("tags", "a,b"), ("address", None),
                       ("name", None), ("items", {"sku": "x"})):
        out.append((f"type of {key}", json.dumps({**RECORD, key: other})))
    out.append(("extra key", json.dumps({**RECORD, "note": "x"})))
    out.append(("nested rename", json.dumps({**RECORD, "address": {"town": "Paris", "zip": "1"}})))
    out.append(("array element keys", json.dumps({**RECORD, "items": [{"sku": "x", "count": 2}]})))
    out.append(("fenced instead of bare", "```json\n" + json.dumps(RECORD) + "\n```"))
    out.append(("text around the JSON", "Here is the record:\n\n```json\n" + json.dumps(RECORD) + "\n```"))
    out.append(("array instead of object", json.dumps([RECORD])))
    out.append(("prose instead of JSON", "The record is Ada, id 17, from Paris."))
    return out


@pytest.mark.parametrize("label, text", _structural_changes())
def test_every_structural_json_change_is_flagged_per_response(label, text):
    verdict = JSON_BASELINE.judge(fp(text))
    assert verdict.ready and verdict.drifted and verdict.score >= 0.5, label


@pytest.mark.parametrize("label, text", [c for c in _structural_changes()
                                         if c[0].startswith(("rename", "drop", "prose", "array instead"))])
def test_contract_violations_are_flagged_per_response(label, text):
    contract = Contract(kind="json", json_keys=tuple(RECORD))
    assert not contract.check(text, fp(text)), label
    assert JSON_BASELINE.judge(fp(text)).drifted


def _tool(args) -> ModelOutput:
    return ModelOutput(tool_calls=(ToolCall("get_weather", json.dumps(args)),))


TOOL_BASELINE = _baseline_of(_tool({"city": c, "unit": u, "days": d})
                             for c, u, d in zip(["Paris", "Oslo", "Rome", "Lima"] * 10, ["C", "F"] * 20, range(40)))


@settings(max_examples=200, deadline=None)
@given(words, words, st.integers(0, 10**6))
def test_tool_call_argument_values_are_never_flagged(city, unit, days):
    assert not TOOL_BASELINE.judge(fp(_tool({"city": city, "unit": unit, "days": days}))).drifted


@pytest.mark.parametrize("output", [
    _tool({"location": "Paris", "unit": "C", "days": 1}),            # renamed argument
    _tool({"city": "Paris", "unit": "C"}),                           # missing argument
    _tool({"city": "Paris", "unit": "C", "days": "1"}),              # type change
    _tool({"city": {"name": "Paris"}, "unit": "C", "days": 1}),      # nested skeleton
    ModelOutput(tool_calls=(ToolCall("weather", json.dumps({"city": "P", "unit": "C", "days": 1})),)),
    ModelOutput(tool_calls=(ToolCall("get_weather", json.dumps({"city": "P", "unit": "C", "days": 1})),) * 2),
    ModelOutput(text="It is sunny in Paris."),                       # text instead of a tool call
])
def test_tool_call_skeleton_changes_are_flagged_per_response(output):
    assert TOOL_BASELINE.judge(fp(output)).drifted
