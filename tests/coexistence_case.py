"""One cell of the coexistence matrix, in a fresh process (instrumentors are process-wide singletons,
and some peers leave wrappers behind on uninstrument): prints a JSON report for test_coexistence.py.

    python tests/coexistence_case.py PEER {alone,ours_first,peer_first}
"""

from __future__ import annotations

import importlib
import json
import sys

import openai

import llm_drift_otel as ld
from conftest import Telemetry
from llm_drift_otel._mock_provider import MockProvider
from openai_helpers import clients, messages

PEERS = {
    "otel-openai-v2": ("opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor"),
    "openllmetry": ("opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
    "openinference": ("openinference.instrumentation.openai", "OpenAIInstrumentor"),
}


def run_calls(client) -> dict:
    plain = client.chat.completions.create(model="gpt-4o", messages=messages())
    stream = client.chat.completions.create(model="gpt-4o", messages=messages(), stream=True)
    is_sdk_stream = isinstance(stream, openai.Stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    return {"plain": plain.choices[0].message.content, "streamed": streamed,
            "plain_type": type(plain).__qualname__, "is_sdk_stream": is_sdk_stream}


def spans_report(t: Telemetry) -> list[dict]:
    return [{"scope": s.instrumentation_scope.name, "ours": "llm_drift.serving.model" in (s.attributes or {}),
             "kind": (s.attributes or {}).get("llm_drift.shape.kind")} for s in t.spans.get_finished_spans()]


def main(peer_name: str, order: str) -> None:
    module, cls = PEERS[peer_name]
    peer = getattr(importlib.import_module(module), cls)()
    t = Telemetry()
    on_ours = lambda: ld.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)  # noqa: E731
    on_peer = lambda: peer.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)  # noqa: E731
    if order == "alone":
        on_peer()
    elif order == "ours_first":
        on_ours(); on_peer()
    else:
        on_peer(); on_ours()
    client, _ = clients(MockProvider(seed=11))
    report = {"calls": run_calls(client), "spans": spans_report(t),
              "durations": sum(p.count for p in t.metric_points("gen_ai.client.operation.duration")),
              "responses": t.counter_total("llm_drift.responses")}
    if order != "alone":
        ld.uninstrument()
        t.spans.clear()
        report["ours_off"] = {"calls": run_calls(client), "spans": spans_report(t)}
        on_ours()
        peer.uninstrument()
        t.spans.clear()
        report["peer_off"] = {"calls": run_calls(client), "spans": spans_report(t)}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
