"""Collector down: the standard OTLP/HTTP exporters behind the standard BatchSpanProcessor and
PeriodicExportingMetricReader, pointed at a closed port on 127.0.0.1 (connection refused) or at a local
TCP server that accepts and never answers (hanging). While they fail, the app's LLM calls keep their
latency (no call waits on an export: the slowest call stays far below the exporter timeout), nothing is
raised into the app, and force_flush / shutdown take what the SDK's own settings say (bounded by the
exporter timeout), not longer.

Also end to end in a subprocess: `import llm_drift_otel.auto` configured only by OTEL_* variables,
pointed at a hanging collector: the app runs its calls at full speed and exits in bounded time.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import llm_drift_otel as ld
from provider_drivers import make

EXPORT_TIMEOUT = 1.0  # seconds: the OTLP exporters' own per-export timeout
CALLS = 300
TESTS = Path(__file__).resolve().parent


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HangingCollector:
    """Accepts TCP connections and never answers (nor closes them) until stopped."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(128)
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True, name="hanging-collector")
        self.thread.start()

    def _accept(self) -> None:
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.held.append(conn)  # never read, never answered

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for conn in self.held:
            conn.close()
        self.server.close()


@pytest.fixture(params=["refusing", "hanging"])
def collector(request):
    if request.param == "refusing":
        yield request.param, closed_port(), None
    else:
        hanging = HangingCollector()
        yield request.param, hanging.port, hanging
        hanging.stop()


def _timed_calls(driver, n: int) -> list[float]:
    latencies = []
    for i in range(n):
        started = time.perf_counter()
        if i % 5 == 4:
            driver.stream()
        else:
            driver.plain()
        latencies.append(time.perf_counter() - started)
        if i % 50 == 49:
            time.sleep(0.15)  # let the batch processor and the metric reader export meanwhile
    return latencies


def test_collector_down_does_not_slow_or_break_the_app(collector, instrument_with):
    kind, port, hanging = collector
    driver = make("openai")

    # the same calls with in-memory exporters: the latency to compare with
    instrument_with(warmup=5)
    reference = _timed_calls(driver, CALLS)
    ld.uninstrument()

    endpoint = f"http://127.0.0.1:{port}"
    span_exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=EXPORT_TIMEOUT)
    # the SDK's defaults (max_export_batch_size 512, queue 2048) but a short delay, so exports run during the calls
    processor = BatchSpanProcessor(span_exporter, schedule_delay_millis=100)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(processor)
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics",
                                                              timeout=EXPORT_TIMEOUT),
                                           export_interval_millis=200, export_timeout_millis=EXPORT_TIMEOUT * 1000)
    meter_provider = MeterProvider(metric_readers=[reader])
    ld.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, warmup=5)
    try:
        began = time.perf_counter()
        latencies = _timed_calls(driver, CALLS)  # raises nothing: any exception fails the test here
        elapsed = time.perf_counter() - began
    finally:
        ld.uninstrument()

    if hanging is not None:
        assert hanging.held, "the exporters never reached the hanging collector"
    worst, p50 = max(latencies), statistics.median(latencies)
    ref_worst, ref_p50 = max(reference), statistics.median(reference)
    print(f"\ncollector {kind}: {CALLS} calls in {elapsed:.2f} s, per call p50 {p50 * 1000:.2f} ms, "
          f"max {worst * 1000:.1f} ms (in-memory exporters: p50 {ref_p50 * 1000:.2f} ms, "
          f"max {ref_worst * 1000:.1f} ms); exporter timeout {EXPORT_TIMEOUT:.0f} s")
    assert worst < EXPORT_TIMEOUT / 4  # no call ever waits on an export
    assert p50 < ref_p50 * 3 + 0.005  # and typical calls are as fast as with a healthy backend

    # flush and shutdown take what the SDK's settings say: each blocked export ends at the exporter timeout;
    # BatchSpanProcessor.force_flush exports every queued batch (it ignores its timeout argument, SDK issue
    # 4568): here all spans fit one batch, so at most the export in flight plus one more
    started = time.perf_counter()
    processor.force_flush()
    flushed = time.perf_counter() - started
    started = time.perf_counter()
    tracer_provider.shutdown()
    meter_provider.shutdown(timeout_millis=EXPORT_TIMEOUT * 1000)
    shut = time.perf_counter() - started
    print(f"force_flush {flushed:.2f} s, shutdown {shut:.2f} s")
    assert flushed < 2 * EXPORT_TIMEOUT + 1
    assert shut < 3 * EXPORT_TIMEOUT + 1


APP = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {tests!r})
    import llm_drift_otel.auto  # the SDK from OTEL_* variables, then instrument
    from provider_drivers import make

    driver = make("openai")
    latencies = []
    for i in range({calls}):
        started = time.perf_counter()
        driver.stream() if i % 5 == 4 else driver.plain()
        latencies.append(time.perf_counter() - started)
        if i % 50 == 49:
            time.sleep(0.15)
    from opentelemetry import trace
    print(json.dumps({{"max": max(latencies), "sum": sum(latencies),
                      "provider": type(trace.get_tracer_provider()).__name__}}))
    sys.stdout.flush()
""")


def test_auto_setup_with_a_hanging_collector_runs_at_full_speed_and_exits(tmp_path):
    hanging = HangingCollector()
    try:
        env = {**os.environ,
               "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{hanging.port}",
               "OTEL_EXPORTER_OTLP_TIMEOUT": str(EXPORT_TIMEOUT),
               "OTEL_BSP_SCHEDULE_DELAY": "100",
               "OTEL_METRIC_EXPORT_INTERVAL": "200",
               "OTEL_SERVICE_NAME": "reliability-app",
               "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        for var in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"):
            env.pop(var, None)
        script = tmp_path / "app.py"
        script.write_text(APP.format(tests=str(TESTS), calls=CALLS))
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
        wall = time.perf_counter() - started
    finally:
        hanging.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nauto + hanging collector: {CALLS} calls, slowest {result['max'] * 1000:.1f} ms, "
          f"calls total {result['sum']:.2f} s, process wall time {wall:.1f} s (exit includes the SDK's own "
          f"shutdown of its exporters)")
    assert result["provider"] == "TracerProvider"
    assert hanging.held, "the SDK never tried the collector"
    assert result["max"] < EXPORT_TIMEOUT / 4
    assert wall < 60
