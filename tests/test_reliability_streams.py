"""Streams, every way an app can leave one: read to the end, abandoned mid-way, the consumer raising, closed
twice, garbage-collected without close, used after close, left through `with`. For every provider's
sync and async streams:

- the app observes exactly what it observes uninstrumented (chunks read, exceptions raised, by type);
- every span the plugin starts is ended, exactly once; none is left open (a SpanProcessor counts
  `on_start` / `on_end`, and the SDK's "Calling end() on an ended span" warning never appears);
- a stream that was not read to its end is not fingerprinted, counted or learnt.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import inspect

import pytest

import llm_drift_otel as ld
from provider_drivers import DRIVERS, SpanCounter, make

REPEAT = 3  # each scenario several times per provider: many streams, one count


class AppBug(Exception):
    pass


def _close(stream):
    return stream.close()


def observe(step):
    """Run one step of a scenario; what the app sees: a value, or the type of what was raised."""
    try:
        return ("ok", step())
    except StopIteration:
        return ("raised", "StopIteration")
    except Exception as exc:  # noqa: BLE001 - compared between runs
        return ("raised", type(exc).__name__)


# ---- sync scenarios: each gets a fresh stream and returns what the app observed ----

def to_the_end(stream):
    return [observe(lambda: sum(1 for _ in stream))]


def abandoned_mid_way(stream):
    seen = [observe(lambda: next(iter(stream)) is not None)]
    del stream  # the app drops it after one chunk: the span ends when it is collected
    return seen


def consumer_raises(stream):
    def read():
        for _ in stream:
            raise AppBug("the app's own bug, mid-stream")

    seen = [observe(read)]
    del stream
    return seen


def closed_twice(stream):
    return [observe(lambda: next(iter(stream)) is not None), observe(lambda: _close(stream) is None),
            observe(lambda: _close(stream) is None)]


def gc_unread(stream):
    del stream
    return []


def used_after_close(stream):
    return [observe(lambda: next(iter(stream)) is not None), observe(lambda: _close(stream) is None),
            observe(lambda: sum(1 for _ in stream))]


def with_exit(stream):
    def read():  # generators have no `with`: then the app gets the interpreter's own error, as bare
        with stream as s:
            return next(iter(s)) is not None

    return [observe(read)]


SYNC = [to_the_end, abandoned_mid_way, consumer_raises, closed_twice, gc_unread, used_after_close, with_exit]
READ_TO_THE_END = {"to_the_end"}


# ---- async scenarios ----

async def aobserve(step):
    try:
        return ("ok", await step())
    except StopAsyncIteration:
        return ("raised", "StopAsyncIteration")
    except Exception as exc:  # noqa: BLE001
        return ("raised", type(exc).__name__)


async def _aclose(stream):
    closer = getattr(stream, "aclose", None) or stream.close
    result = closer()
    if inspect.isawaitable(result):
        result = await result
    return result is None


async def _anext(stream):
    return await stream.__aiter__().__anext__() is not None


async def _acount(stream):
    return sum([1 async for _ in stream])


async def a_to_the_end(stream):
    return [await aobserve(lambda: _acount(stream))]


async def a_abandoned_mid_way(stream):
    seen = [await aobserve(lambda: _anext(stream))]
    del stream
    return seen


async def a_consumer_raises(stream):
    async def read():
        async for _ in stream:
            raise AppBug("the app's own bug, mid-stream")

    seen = [await aobserve(read)]
    del stream
    return seen


async def a_closed_twice(stream):
    return [await aobserve(lambda: _anext(stream)), await aobserve(lambda: _aclose(stream)),
            await aobserve(lambda: _aclose(stream))]


async def a_gc_unread(stream):
    del stream
    return []


async def a_used_after_close(stream):
    return [await aobserve(lambda: _anext(stream)), await aobserve(lambda: _aclose(stream)),
            await aobserve(lambda: _acount(stream))]


async def a_with_exit(stream):
    async def read():
        async with stream as s:
            return await _anext(s)

    return [await aobserve(read)]


ASYNC = [a_to_the_end, a_abandoned_mid_way, a_consumer_raises, a_closed_twice, a_gc_unread, a_used_after_close,
         a_with_exit]


def run_scenarios(driver) -> list:
    """Every scenario REPEAT times; what the app dropped is garbage-collected at the end, at a safe point.

    Automatic collection is off meanwhile: it can run a finalizer at any allocation, and an abandoned LiteLLM
    stream (held in reference cycles by LiteLLM itself) finalized while the same thread is inside httpcore's
    connection pool closes its response there and deadlocks on the pool's non-reentrant lock: an SDK hazard,
    with or without the instrumentation, that this test must not trip at random. Refcounting ends most
    dropped streams at once; the collection at the end ends those held in cycles (one full collection costs
    ~0.3 s with these SDKs loaded).
    """
    seen = []
    gc.collect()
    gc.disable()
    try:
        for scenario in SYNC:
            for _ in range(REPEAT):
                driver.reseed()
                seen.append((scenario.__name__, scenario(driver.open_stream())))
        if driver.has_async:
            async def go():
                out = []
                for scenario in ASYNC:
                    for _ in range(REPEAT):
                        driver.reseed()
                        out.append((scenario.__name__, await scenario(await driver.aopen_stream())))
                return out

            seen += asyncio.run(go())
    finally:
        gc.enable()
    gc.collect()
    return seen


@pytest.fixture(scope="module")
def drivers():
    made = {name: make(name) for name in DRIVERS}
    yield made
    for driver in made.values():
        driver.close()


@pytest.mark.parametrize("name", list(DRIVERS))
def test_every_way_out_of_a_stream_ends_its_span_exactly_once(name, drivers, instrument_with, caplog):
    driver = drivers[name]
    ld.uninstrument()
    reference = run_scenarios(driver)

    telemetry = instrument_with(warmup=2)
    counter = SpanCounter()
    telemetry.tracer_provider.add_span_processor(counter)
    caplog.set_level(logging.WARNING)
    seen = run_scenarios(driver)

    assert seen == reference  # the app observes the same, chunk for chunk, exception for exception
    streams = len(seen)
    assert (counter.started, counter.ended) == (streams, streams), "a span left open or never started"
    assert not counter.ended_more_than_once()
    assert not [r for r in caplog.records if "ended span" in r.getMessage()]  # the SDK's double-end warning
    # no stage failed
    assert not [r for r in caplog.records if r.name == "llm_drift_otel" and r.levelno >= logging.WARNING]
    finished = {s.context.span_id: s for s in telemetry.llm_spans()}
    assert len(finished) == streams
    # only streams read to their end are judged and counted
    complete = sum(1 for scenario, _ in seen if scenario.lstrip("a_") in READ_TO_THE_END
                   or scenario in ("to_the_end", "a_to_the_end"))
    judged = [s for s in finished.values() if "llm_drift.shape.kind" in s.attributes]
    assert len(judged) == complete == REPEAT * (2 if driver.has_async else 1)
    assert telemetry.counter_total("llm_drift.responses") == complete
    print(f"\n{name}: {streams} streams, {counter.started} spans started, {counter.ended} ended")
