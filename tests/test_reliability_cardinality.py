"""Cardinality: 10,000 distinct output shapes in one prompt variant, and 10,000 distinct prompt variants
(distinct system prompts, hashed), leave the metric series bounded as SPEC §2 / §5 say: at most K
(`LLM_DRIFT_MAX_SHAPES_PER_VARIANT`, default 20) shape ids per variant plus `other`, at most
`LLM_DRIFT_MAX_VARIANTS` (default 1000) variants plus `other`; counts are not lost when labels collapse
(the series sum to the number of calls), and the baselines kept stay at the variant cap.

The 20,000 calls go through the OpenAI adapter's real endpoint and the whole per-call pipeline
(`Runtime.begin` -> `Call.returned` with real `ChatCompletion` objects), as the SDK wrapper drives it,
without the SDK's HTTP round trip (it adds nothing to label handling and would cost ~30 s); a smaller run
through real SDK calls checks the same caps end to end.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

import httpx2
import openai
from openai.types.chat import ChatCompletion

from llm_drift_otel import _wrappers
from llm_drift_otel._mock_provider import chat_body
from llm_drift_otel.providers.openai import _endpoints
from provider_drivers import OpenAIDriver

N = 10_000
SYSTEM = "You are the support assistant. Answer with one JSON card."


def _chat_endpoint():
    (endpoint,) = [e for e in _endpoints() if e.method == "Completions.create"]
    return endpoint


def _client() -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test-not-a-key", base_url="http://127.0.0.1:9/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(lambda r: httpx2.Response(500))))


def _drive(system_of, text_of, n: int) -> float:
    """n calls through the pipeline as the sync wrapper drives it; returns the seconds taken."""
    runtime = _wrappers.current_runtime()
    endpoint = _chat_endpoint()
    instance = _client().chat.completions
    started = time.perf_counter()
    for i in range(n):
        kwargs = {"model": "gpt-4o", "messages": [{"role": "system", "content": system_of(i)},
                                                  {"role": "user", "content": "hi"}]}
        call = runtime.begin(endpoint, "openai", instance, (), kwargs)
        call.detach()
        call.returned(ChatCompletion.model_validate(chat_body("gpt-4o-2024-08-06", text_of(i))))
    return time.perf_counter() - started


def _series(telemetry, name: str) -> list[dict]:
    return [dict(p.attributes) for p in telemetry.metric_points(name)]


def _shape_ids_by_variant(series: list[dict]) -> dict[str, set]:
    out: dict[str, set] = defaultdict(set)
    for attributes in series:
        out[attributes["llm_drift.prompt.variant"]].add(attributes["llm_drift.shape.id"])
    return out


def test_10000_shapes_in_one_variant_give_at_most_k_shape_ids_plus_other(instrument_with):
    telemetry = instrument_with(warmup=5)
    k = telemetry and _wrappers.current_runtime().config.max_shapes_per_variant
    assert k == 20  # the SPEC default
    took = _drive(lambda i: SYSTEM, lambda i: json.dumps({f"field_{i}": i, "title": "t"}), N)

    spans = telemetry.llm_spans()
    assert len({s.attributes["llm_drift.shape.id"] for s in spans}) == N  # they really are 10,000 shapes
    series = _series(telemetry, "llm_drift.responses")
    by_variant = _shape_ids_by_variant(series)
    assert len(by_variant) == 1
    (ids,) = by_variant.values()
    assert len(ids) == k + 1 and "other" in ids
    assert len(series) <= k + 1  # distinct attribute sets exported
    assert telemetry.counter_total("llm_drift.responses") == N  # nothing lost in `other`
    print(f"\n{N} distinct shapes, one variant: {len(series)} llm_drift.responses series "
          f"({len(ids) - 1} shape ids + other), {N} counted, {took:.1f} s")


def test_10000_variants_give_at_most_max_variants_plus_other(instrument_with):
    telemetry = instrument_with(warmup=5)
    runtime = _wrappers.current_runtime()
    cap = runtime.config.max_variants
    assert cap == 1000  # the SPEC default
    took = _drive(lambda i: f"{SYSTEM} Prompt revision {i}.", lambda i: json.dumps({"title": "t", "n": i}), N)

    spans = telemetry.llm_spans()
    assert len({s.attributes["llm_drift.prompt.variant"] for s in spans}) == N  # 10,000 variants on spans
    for name in ("llm_drift.responses", "llm_drift.shape.drift_score"):
        variants = {a["llm_drift.prompt.variant"] for a in _series(telemetry, name)}
        if name == "llm_drift.responses":
            assert len(variants) == cap + 1 and "other" in variants
        assert len(variants) <= cap + 1
    series = _series(telemetry, "llm_drift.responses")
    assert len(series) <= cap + 1
    assert telemetry.counter_total("llm_drift.responses") == N
    assert telemetry.counter_total("llm_drift.responses", **{"llm_drift.prompt.variant": "other"}) == N - cap
    assert len(runtime.baselines) <= cap  # memory: least recently used baselines dropped
    print(f"\n{N} distinct variants: {len(series)} llm_drift.responses series ({cap} variants + other), "
          f"{len(runtime.baselines)} baselines kept, {took:.1f} s")


def test_caps_hold_through_real_sdk_calls(instrument_with, monkeypatch):
    """The same caps, set through the environment, over real OpenAI SDK calls."""
    monkeypatch.setenv("LLM_DRIFT_MAX_SHAPES_PER_VARIANT", "3")
    monkeypatch.setenv("LLM_DRIFT_MAX_VARIANTS", "4")
    telemetry = instrument_with(warmup=5)
    driver = OpenAIDriver()
    calls = 0
    for v in range(8):
        driver.system = f"{SYSTEM} Variant {v}."
        for s in range(6):
            driver.script.text = json.dumps({f"key_{s}": 1})
            driver.plain()
            calls += 1
    series = _series(telemetry, "llm_drift.responses")
    by_variant = _shape_ids_by_variant(series)
    assert len(by_variant) == 4 + 1
    assert all(len(ids) <= 3 + 1 for ids in by_variant.values())
    assert by_variant["other"] == {"other"}
    assert telemetry.counter_total("llm_drift.responses") == calls
