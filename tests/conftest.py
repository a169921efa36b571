"""Shared fixtures: in-memory OTel SDK, the instrumentation on and off, real SDK clients on a mock transport."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llm_drift_otel as ld
from llm_drift_otel._log import reset_reported

REPO = Path(__file__).resolve().parents[1]


def corpus_dir() -> Path:
    """The shared multi-model corpus: $LLM_DRIFT_CORPUS, else ../shared/corpus beside the repo."""
    env = os.environ.get("LLM_DRIFT_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus"


class Telemetry:
    """What the instrumentation exported during a test."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self, name_prefix: str = "") -> list:
        return [s for s in self.spans.get_finished_spans() if s.name.startswith(name_prefix)]

    def llm_spans(self) -> list:
        return [s for s in self.spans.get_finished_spans() if "gen_ai.operation.name" in (s.attributes or {})]

    def metric_points(self, name: str) -> list:
        data = self.reader.get_metrics_data()
        points = []
        for rm in (data.resource_metrics if data else ()):
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points

    def counter_total(self, name: str, **match: str) -> float:
        total = 0.0
        for point in self.metric_points(name):
            attrs = dict(point.attributes)
            if all(attrs.get(k) == v for k, v in match.items()):
                total += point.value
        return total


@pytest.fixture
def telemetry(monkeypatch):
    """The instrumentation, on, exporting to memory; off again after the test."""
    for var in ("LLM_DRIFT_PRIMARY_MODELS", "LLM_DRIFT_BASELINE_FILE", "LLM_DRIFT_WARMUP",
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "LLM_DRIFT_SIGNATURE_KEYS"):
        monkeypatch.delenv(var, raising=False)
    reset_reported()
    t = Telemetry()
    ld.uninstrument()
    ld.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider, warmup=5)
    yield t
    ld.uninstrument()


@pytest.fixture
def instrument_with(monkeypatch):
    """Instrument with options of the test's choosing: `instrument_with(warmup=3, primary_models=...)`."""
    reset_reported()
    made = []

    def _make(**options):
        t = Telemetry()
        ld.uninstrument()
        ld.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider, **options)
        made.append(t)
        return t

    yield _make
    ld.uninstrument()
