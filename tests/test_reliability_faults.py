"""Fault injection: every internal stage made to raise in turn, for every provider's plain, streamed and failing
calls (and the async ones): the app gets exactly what it gets uninstrumented, the same result or the same
SDK exception (type, status code, message), and the failure is logged once per stage, not once per call.

Faults are injected through generic seams, none of them provider-specific:
- adapter request / response / stream extraction: `Runtime.begin` is wrapped so that the `Endpoint` it is
  given (every wrapper of every provider passes its own) is replaced by `dataclasses.replace(endpoint, ...)`
  with a raising extractor. The frozen endpoint objects are not touched and monkeypatch restores `begin`,
  so nothing leaks into other tests; the Call reads every extractor from that endpoint, so this is the
  same as patching the adapter itself.
- core stages: the module attributes `_runtime` calls (`fingerprint_output`, `variant_of_system_prompt`,
  `current_request`), methods of `Call` / `Baseline` / the contract, and the OpenTelemetry SDK's own
  `Span.set_attribute(s)`, `Tracer.start_span`, `Counter.add` and `Histogram.record`.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
from opentelemetry.sdk.metrics._internal.instrument import Counter as SdkCounter
from opentelemetry.sdk.metrics._internal.instrument import Histogram as SdkHistogram
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import Tracer as SdkTracer

import llm_drift_otel as ld
from llm_drift_otel import _baseline, _counts, _runtime
from llm_drift_otel._log import reset_reported
from provider_drivers import DRIVERS, SpanCounter, make, run_all

ROUNDS = 3  # each kind of call made 3 times under each fault: the log must still say it once


class InjectedFault(RuntimeError):
    pass


def boom(*_args, **_kwargs):
    raise InjectedFault("injected by the reliability tests")


class _FailingAccumulator:
    """Wraps an adapter's real stream accumulator; `add` or `result` raises."""

    def __init__(self, inner, fail: str) -> None:
        self.inner, self.fail = inner, fail

    def add(self, chunk):
        if self.fail == "add":
            boom()
        return self.inner.add(chunk)

    def result(self):
        if self.fail == "result":
            boom()
        return self.inner.result()


def endpoint_fault(make_fields):
    """Install a fault in the adapter: every Endpoint reaching `Runtime.begin` gets `make_fields(endpoint)` replaced."""

    def install(monkeypatch):
        original = _runtime.Runtime.begin

        def begin(self, endpoint, *args, **kwargs):
            return original(self, dataclasses.replace(endpoint, **make_fields(endpoint)), *args, **kwargs)

        monkeypatch.setattr(_runtime.Runtime, "begin", begin)

    return install


def stream_fault(fail):
    def fields(endpoint):
        if endpoint.stream is None:
            return {}
        factory = endpoint.stream
        return {"stream": lambda limit: _FailingAccumulator(factory(limit), fail)}

    return endpoint_fault(fields)


def setattr_fault(target, name):
    def install(monkeypatch):
        monkeypatch.setattr(target, name, boom)

    return install


def several(*installs):
    def install(monkeypatch):
        for one in installs:
            one(monkeypatch)

    return install


def contract_fault(monkeypatch):
    monkeypatch.setattr(ld.Contract, "check", boom)


# stage name as logged -> how to make it raise
FAULTS = {
    "request extraction": endpoint_fault(lambda e: {"request": boom}),
    "response extraction": endpoint_fault(lambda e: {"response": boom}),
    "stream chunk extraction": stream_fault("add"),
    "stream result extraction": stream_fault("result"),
    "fingerprint": setattr_fault(_runtime, "fingerprint_output"),
    "prompt variant": setattr_fault(_runtime, "variant_of_system_prompt"),
    "fallback chain lookup": setattr_fault(_runtime, "current_request"),
    "fallback resolution": setattr_fault(_runtime.Call, "_resolve_fallback"),
    "baseline": several(setattr_fault(_baseline.Baseline, "judge"), setattr_fault(_baseline.Baseline, "learn")),
    "contract check": contract_fault,
    "span attributes": several(setattr_fault(SdkSpan, "set_attributes"), setattr_fault(SdkSpan, "set_attribute")),
    "span start": setattr_fault(SdkTracer, "start_span"),
    "metrics recording": setattr_fault(_runtime.Call, "_record_metrics"),
    # the SDK's instruments themselves: covers the error path's duration histogram too
    # the instruments themselves (the SDK's counter and histograms, our count table behind the observable
    # `llm_drift.responses`): covers the error path's duration histogram too
    "metrics recording (instruments)": several(setattr_fault(SdkCounter, "add"), setattr_fault(SdkHistogram, "record"),
                                               setattr_fault(_counts.CountTable, "add")),
}
LOGGED_AS = {"metrics recording (instruments)": "metrics recording"}

# A stage that fails can make a later one see less, never more: these may log too, once.
MAY_ALSO_LOG = {
    # without the request, a streamed call is not known to be one: the stream object itself is read as
    # the response, and an adapter may not make sense of it
    "request extraction": {"response extraction"},
}

@pytest.fixture(scope="module")
def drivers():
    """One driver per provider, and what each call gives with no instrumentation at all."""
    ld.uninstrument()
    made = {name: make(name) for name in DRIVERS}
    references = {name: run_all(driver, 1) for name, driver in made.items()}
    yield made, references
    for driver in made.values():
        driver.close()


def _stage_records(caplog, stage: str) -> list:
    return [r for r in caplog.records if r.name == "llm_drift_otel" and r.getMessage().startswith(
        f"llm_drift_otel: {stage} failed")]


def _failed_stages(caplog) -> list[str]:
    out = []
    for r in caplog.records:
        message = r.getMessage()
        if r.name == "llm_drift_otel" and " failed (" in message:
            out.append(message[len("llm_drift_otel: "):message.index(" failed (")])
    return out


@pytest.mark.parametrize("name", list(DRIVERS))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_failing_stage_changes_nothing_for_the_app_and_is_logged_once(fault, name, drivers, instrument_with,
                                                                        monkeypatch, caplog):
    made, references = drivers
    driver = made[name]
    telemetry = instrument_with(warmup=2)
    counter = SpanCounter()
    telemetry.tracer_provider.add_span_processor(counter)
    reset_reported()
    caplog.set_level(logging.WARNING)
    FAULTS[fault](monkeypatch)
    context = ld.prompt_variant("faults", contract=ld.Contract(kind="json")) if fault == "contract check" else None

    if context is not None:
        with context:
            results = run_all(driver, ROUNDS)
    else:
        results = run_all(driver, ROUNDS)

    monkeypatch.undo()  # the SDK's own Span / Tracer methods back before looking at the spans
    reference = references[name]
    sync = [r for i, r in enumerate(results) if i < 3 * ROUNDS]
    asynchronous = results[3 * ROUNDS:]
    assert sync == reference[:3] * ROUNDS
    assert asynchronous == [r for _ in range(ROUNDS) for r in reference[3:]]

    stage = LOGGED_AS.get(fault, fault)
    assert len(_stage_records(caplog, stage)) == 1, _failed_stages(caplog)
    failed = _failed_stages(caplog)
    assert len(failed) == len(set(failed)), f"a stage was logged more than once: {failed}"
    assert set(failed) <= {stage} | MAY_ALSO_LOG.get(fault, set()), failed
    # every span the plugin started has ended, once
    assert counter.open == 0 and not counter.ended_more_than_once()
    if fault != "span start":
        assert counter.started == len(results)


@pytest.mark.parametrize("name", list(DRIVERS))
def test_a_stage_failing_then_healing_resumes_telemetry(name, drivers, instrument_with, monkeypatch, caplog):
    """After a transient fault the next calls are fully instrumented again (a stage is skipped, not disabled)."""
    made, references = drivers
    driver = made[name]
    telemetry = instrument_with(warmup=2)
    monkeypatch.setattr(_runtime, "fingerprint_output", boom)
    assert driver.plain() == references[name][0]
    monkeypatch.undo()
    assert driver.plain() == references[name][0]
    spans = telemetry.llm_spans()
    assert len(spans) == 2
    assert "llm_drift.shape.kind" not in spans[0].attributes
    assert "llm_drift.shape.kind" in spans[1].attributes


def test_fault_matrix_size(drivers):
    """Prints the size of the matrix above (for docs/reliability.md)."""
    made, _ = drivers
    calls = sum(ROUNDS * (5 if d.has_async else 3) for d in made.values()) * len(FAULTS)
    print(f"\nfault injection: {len(FAULTS)} faults x {len(made)} providers = {len(FAULTS) * len(made)} cases, "
          f"{calls} SDK calls ({ROUNDS} rounds of plain / stream / failing / async plain / async stream)")
    assert len(FAULTS) >= 14


def _wrapped_endpoints():
    """The frozen `Endpoint` of every wrapper in place: `_patched` -> FunctionWrapper -> our wrapper's closure."""
    from llm_drift_otel._instrumentor import _patched
    from llm_drift_otel.providers import Endpoint

    for _owner, _method, function_wrapper in list(_patched):
        for cell in function_wrapper._self_wrapper.__closure__ or ():
            if isinstance(cell.cell_contents, Endpoint):
                yield cell.cell_contents


@pytest.mark.parametrize("name", list(DRIVERS))
def test_a_raising_endpoint_filter_declines_the_call_and_is_logged_once(name, drivers, instrument_with, caplog):
    """`Endpoint.accepts` (Anthropic's, Bedrock's and OpenAI's generic request filters) runs in the wrapper
    itself, before `Runtime.begin`: reached through the wrappers' closures, set raising, restored after."""
    made, references = drivers
    instrument_with(warmup=2)
    reset_reported()
    caplog.set_level(logging.WARNING)
    patched = [e for e in _wrapped_endpoints() if e.accepts is not None]
    assert patched, "no endpoint with a filter is wrapped"
    saved = [(e, e.accepts) for e in patched]
    try:
        for endpoint in patched:
            object.__setattr__(endpoint, "accepts", boom)
        results = run_all(made[name], ROUNDS)
    finally:
        for endpoint, accepts in saved:
            object.__setattr__(endpoint, "accepts", accepts)
    reference = references[name]
    assert results[:3 * ROUNDS] == reference[:3] * ROUNDS
    assert results[3 * ROUNDS:] == [r for _ in range(ROUNDS) for r in reference[3:]]
    failed = _failed_stages(caplog)
    assert failed in ([], ["endpoint filter"])  # only providers whose endpoints have a filter reach it
    if name in ("anthropic", "bedrock"):
        assert failed == ["endpoint filter"]


@pytest.mark.parametrize("fault", ["unwrap_raw", "response"])
def test_raw_response_forms_unchanged_when_extraction_raises(fault, instrument_with, monkeypatch, caplog):
    """`with_raw_response` / `with_streaming_response` (OpenAI): the raw object, its parse() and its
    streamed body are what they are uninstrumented when unwrapping or reading it raises."""

    def calls(driver):
        driver.reseed()
        raw = driver.client.chat.completions.with_raw_response.create(**driver._kwargs())
        parsed = driver._message(raw.parse())
        driver.reseed()
        with driver.client.chat.completions.with_streaming_response.create(**driver._kwargs(stream=True)) as r:
            lines = [line for line in r.iter_lines() if line]
        return type(raw).__qualname__, raw.status_code, parsed, len(lines)

    # a client whose `with_raw_response` was first used uninstrumented keeps the bare method (the SDK
    # caches the bound wrapper): the instrumented run uses a client of its own
    ld.uninstrument()
    reference = calls(make("openai"))
    telemetry = instrument_with(warmup=2)
    reset_reported()
    caplog.set_level(logging.WARNING)
    endpoint_fault(lambda e: {fault: boom} if fault != "unwrap_raw" or e.unwrap_raw is not None else {})(monkeypatch)
    driver = make("openai")
    assert [calls(driver) for _ in range(ROUNDS)] == [reference] * ROUNDS
    assert _failed_stages(caplog) == ["response extraction"]
    assert len(telemetry.llm_spans()) == 2 * ROUNDS
