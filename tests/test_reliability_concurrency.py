"""Concurrency: many threads and many concurrent asyncio calls through the real OpenAI SDK over a mock
transport. Nothing is lost or counted twice: `llm_drift.responses` sums exactly to the number of calls,
`llm_drift.fallbacks` to the fallback calls, every span started is ended once, no call raises, no stage
fails, and each baseline has learnt exactly the primary calls (never the fallback ones) and is internally
consistent (it round-trips through its own validating `from_json`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import httpx2
import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import llm_drift_otel as ld
from llm_drift_otel import _wrappers
from llm_drift_otel._log import reset_reported
from llm_drift_otel._mock_provider import MockProvider
from provider_drivers import SYSTEM, SpanCounter

THREADS, CALLS_PER_THREAD = 32, 2000
ASYNC_CALLS = 1000
MODEL = "gpt-4o"


class _Bodies:
    """A transport answering real chat-completion bodies of the mock's house style, made up front (16 of
    them, cycled): the 64,000 calls then measure the SDK and the instrumentation, not the mock's RNG."""

    def __init__(self, seed: int) -> None:
        import itertools
        import random

        from llm_drift_otel._mock_provider import chat_body, json_card

        rng = random.Random(seed)
        self.bodies = [json.dumps(chat_body("gpt-4o-2024-08-06", json_card(rng))).encode() for _ in range(16)]
        self._next = itertools.count()
        self.calls = 0

    def handle(self, request) -> httpx2.Response:
        i = next(self._next)  # atomic under the GIL
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=self.bodies[i % 16])

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)


def _messages() -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Where is my order?"}]


class _Setup:
    """The instrumentation over SDK providers that keep no spans (a counting processor only)."""

    def __init__(self) -> None:
        self.counter = SpanCounter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(self.counter)
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        ld.uninstrument()
        reset_reported()
        ld.instrument(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, warmup=20)

    def points(self, name: str) -> list:
        data = self.reader.get_metrics_data()
        return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics if m.name == name
                for p in m.data.data_points]

    def total(self, name: str) -> float:
        return sum(p.value for p in self.points(name))

    def histogram_count(self, name: str) -> int:
        return sum(p.count for p in self.points(name))

    def baseline(self) -> ld.Baseline:
        runtime = _wrappers.current_runtime()
        (variant, baseline), = [(v, b) for v, b in runtime.baselines.items()]
        assert variant.startswith("sys-")
        return baseline


@pytest.fixture
def setup():
    made = _Setup()
    yield made
    ld.uninstrument()


def _assert_consistent(baseline: ld.Baseline, primary_calls: int) -> None:
    assert baseline.samples == primary_calls
    again = ld.Baseline.from_json(baseline.to_json())  # validates: kind counts sum to samples, ...
    assert again.samples == primary_calls
    assert json.loads(baseline.to_json())["samples"] == primary_calls


def test_32_threads_x_2000_calls_count_exactly(setup, caplog):
    caplog.set_level(logging.WARNING, logger="llm_drift_otel")
    mock = _Bodies(seed=3)
    client = openai.OpenAI(api_key="sk-test-not-a-key", base_url="http://127.0.0.1:9/v1", max_retries=0,
                           http_client=httpx2.Client(transport=mock.transport()))
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        try:
            start.wait()
            fallback = index % 2 == 1  # half the threads serve fallback traffic: never learnt
            for _ in range(CALLS_PER_THREAD):
                if fallback:
                    with ld.fallback(primary="openai/gpt-4o", reason="RateLimitError"):
                        result = client.chat.completions.create(model=MODEL, messages=_messages())
                else:
                    result = client.chat.completions.create(model=MODEL, messages=_messages())
                assert result.choices[0].message.content.startswith("{")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    began = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began

    calls = THREADS * CALLS_PER_THREAD
    assert errors == []
    assert next(mock._next) == calls
    assert setup.total("llm_drift.responses") == calls
    assert setup.total("llm_drift.fallbacks") == calls // 2
    assert setup.histogram_count("gen_ai.client.operation.duration") == calls
    assert (setup.counter.started, setup.counter.ended) == (calls, calls)
    assert not setup.counter.ended_more_than_once()
    _assert_consistent(setup.baseline(), calls // 2)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    print(f"\n{THREADS} threads x {CALLS_PER_THREAD} calls = {calls} OpenAI SDK calls in {elapsed:.1f} s "
          f"({calls / elapsed:.0f} calls/s); llm_drift.responses = {setup.total('llm_drift.responses'):.0f}, "
          f"baseline samples = {setup.baseline().samples}")


def test_1000_concurrent_asyncio_calls_count_exactly(setup, caplog):
    caplog.set_level(logging.WARNING, logger="llm_drift_otel")
    mock = MockProvider(styles={MODEL: "json_card"}, seed=4)
    in_flight = {"now": 0, "max": 0}

    async def handler(request):
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        try:
            await asyncio.sleep(0.2)  # every call is still waiting when the last one starts
            status, headers, body = mock.handle(request.method, request.url.path, await request.aread())
            return httpx2.Response(status, headers=headers, content=body)
        finally:
            in_flight["now"] -= 1

    async def main() -> list:
        client = openai.AsyncOpenAI(api_key="sk-test-not-a-key", base_url="http://127.0.0.1:9/v1", max_retries=0,
                                    http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))

        async def one(index: int):
            if index % 2:
                with ld.fallback(primary="openai/gpt-4o", reason="RateLimitError"):
                    return await client.chat.completions.create(model=MODEL, messages=_messages())
            return await client.chat.completions.create(model=MODEL, messages=_messages())

        return await asyncio.gather(*(one(i) for i in range(ASYNC_CALLS)), return_exceptions=True)

    began = time.perf_counter()
    results = asyncio.run(main())
    elapsed = time.perf_counter() - began

    assert [r for r in results if isinstance(r, BaseException)] == []
    assert all(r.choices[0].message.content.startswith("{") for r in results)
    assert in_flight["max"] >= ASYNC_CALLS * 0.9  # they really were concurrent
    assert setup.total("llm_drift.responses") == ASYNC_CALLS
    # each task's context is its own: a fallback declared in one task never leaks into another
    assert setup.total("llm_drift.fallbacks") == ASYNC_CALLS // 2
    assert (setup.counter.started, setup.counter.ended) == (ASYNC_CALLS, ASYNC_CALLS)
    _assert_consistent(setup.baseline(), ASYNC_CALLS // 2)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    print(f"\n{ASYNC_CALLS} concurrent asyncio calls (max {in_flight['max']} in flight) in {elapsed:.1f} s; "
          f"llm_drift.responses = {setup.total('llm_drift.responses'):.0f}")


def test_concurrent_streams_across_threads_end_every_span_once(setup):
    """Streams read in many threads at once, some to the end, some abandoned: counts stay exact."""
    mock = MockProvider(styles={MODEL: "json_card"}, seed=5)
    client = openai.OpenAI(api_key="sk-test-not-a-key", base_url="http://127.0.0.1:9/v1", max_retries=0,
                           http_client=httpx2.Client(transport=mock.transport()))
    threads_n, per_thread = 16, 100
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for i in range(per_thread):
                stream = client.chat.completions.create(model=MODEL, messages=_messages(), stream=True)
                if (index + i) % 2:
                    for _ in stream:
                        pass
                else:
                    next(iter(stream))
                    stream.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = threads_n * per_thread
    assert errors == []
    assert (setup.counter.started, setup.counter.ended) == (calls, calls)
    assert not setup.counter.ended_more_than_once()
    # only the streams read to their end are fingerprinted, counted and learnt
    assert setup.total("llm_drift.responses") == calls // 2
    _assert_consistent(setup.baseline(), calls // 2)
