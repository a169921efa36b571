"""Per-call overhead of llm-drift-otel (and of peer instrumentations that are installed) over the bare SDK.

The real `openai` SDK talks to an in-process `httpx2.MockTransport` that returns a fixed, real
chat-completion body (a ~2 KB JSON answer, or a ~4 KB markdown answer), so the measured time is the
SDK's own work plus the instrumentation's. Rounds are interleaved (bare, ours, peers, bare, ...) and
medians of per-round means are compared, in one run:

    .venv/bin/python benchmarks/overhead.py [--rounds 30 --calls 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Callable

import httpx2
import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import llm_drift_otel as ld
from llm_drift_otel._mock_provider import chat_body


class DropSpans(SpanExporter):
    def export(self, spans):  # type: ignore[no-untyped-def]
        return SpanExportResult.SUCCESS


def json_answer() -> str:
    card = {"title": "Order status", "summary": "Your order ships tomorrow. " * 8,
            "actions": [f"step {i}: check the tracking page and confirm the address" for i in range(12)],
            "details": {"carrier": "ACME", "eta_days": 2, "items": [{"sku": f"SKU-{i}", "qty": i} for i in range(15)]},
            "confidence": 0.93}
    return json.dumps(card)


def markdown_answer() -> str:
    section = ("## Shipping\n\nYour order **ships tomorrow** from our warehouse.\n\n"
               "- Track it on the order page\n- Confirm your address\n- Contact us if it is late\n\n"
               "| item | qty |\n|---|---|\n| shirt | 2 |\n| mug | 1 |\n\n")
    return section * 12


def make_client(answer: str) -> openai.OpenAI:
    body = json.dumps(chat_body("gpt-4o-2024-08-06", answer)).encode()
    headers = {"content-type": "application/json"}

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=headers, content=body)

    return openai.OpenAI(api_key="sk-bench", base_url="http://127.0.0.1:9/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))


MESSAGES = [{"role": "system", "content": "Answer as a JSON card."}, {"role": "user", "content": "Where is my order?"}]


def time_calls(client: openai.OpenAI, calls: int) -> float:
    create = client.chat.completions.create
    start = time.perf_counter()
    for _ in range(calls):
        create(model="gpt-4o", messages=MESSAGES)
    return (time.perf_counter() - start) / calls


class Contender:
    """An instrumentation that can be switched on and off between rounds."""

    def __init__(self, name: str, on: Callable[[], None], off: Callable[[], None]) -> None:
        self.name, self.on, self.off = name, on, off


def contenders(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> list[Contender]:
    out = [Contender("bare", lambda: None, lambda: None),
           Contender("llm-drift-otel", lambda: ld.instrument(tracer_provider=tracer_provider,
                                                             meter_provider=meter_provider),
                     ld.uninstrument)]
    peers = [
        ("otel-genai-openai-v2", "opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor"),
        ("openinference", "openinference.instrumentation.openai", "OpenAIInstrumentor"),
        ("openllmetry", "opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
    ]
    for name, module, cls in peers:
        try:
            instrumentor = getattr(__import__(module, fromlist=[cls]), cls)()
        except Exception:
            print(f"  ({name} not installed: skipped)")
            continue
        out.append(Contender(name,
                             lambda i=instrumentor: i.instrument(tracer_provider=tracer_provider,
                                                                 meter_provider=meter_provider),
                             lambda i=instrumentor: i.uninstrument()))
    return out


def run(answer_name: str, answer: str, rounds: int, calls: int, tracer_provider, meter_provider) -> dict[str, float]:
    client = make_client(answer)
    entries = contenders(tracer_provider, meter_provider)
    samples: dict[str, list[float]] = {c.name: [] for c in entries}
    for c in entries:  # warm up every path once
        c.on(); time_calls(client, 20); c.off()
    for _ in range(rounds):
        for c in entries:
            c.on()
            samples[c.name].append(time_calls(client, calls))
            c.off()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    bare = medians["bare"]
    print(f"\n{answer_name} ({len(answer)} chars), {rounds} rounds x {calls} calls, median per call:")
    for name, value in medians.items():
        print(f"  {name:<22} {value * 1e6:9.1f} us   {value / bare:6.3f}x bare")
    return medians


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    run("non-streaming chat, JSON answer", json_answer(), args.rounds, args.calls, tracer_provider, meter_provider)
    run("non-streaming chat, markdown answer", markdown_answer(), args.rounds, args.calls, tracer_provider,
        meter_provider)


if __name__ == "__main__":
    main()
