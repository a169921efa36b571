"""A real instrumented process for the Prometheus end-to-end test: real openai SDK calls over HTTP to a
local mock provider whose primary starts failing after `--primary-seconds`; the app then falls back
inside the same request span. Metrics are served by the OTel SDK's Prometheus exporter.

    python tests/prometheus_e2e_app.py --metrics-port 9464 --variant card --fallback-style markdown_bullets
"""

from __future__ import annotations

import argparse
import sys
import time

import openai
from opentelemetry import trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import start_http_server

import llm_drift_otel as ld
from llm_drift_otel._mock_provider import MockProvider


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--fallback-style", default="markdown_bullets")
    parser.add_argument("--primary-seconds", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()

    start_http_server(args.metrics_port, addr="127.0.0.1")
    meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    tracer_provider = TracerProvider()
    ld.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, warmup=10)
    tracer = tracer_provider.get_tracer("e2e-app")

    mock = MockProvider(styles={"gpt-4o": "json_card", "fallback-model": args.fallback_style}, seed=5)
    messages = [{"role": "system", "content": "Answer with one JSON card."}, {"role": "user", "content": "order?"}]
    with mock.serve() as server:
        client = openai.OpenAI(api_key="sk-e2e", base_url=server.base_url, max_retries=0)
        print("ready", flush=True)
        start = time.monotonic()
        while time.monotonic() - start < args.duration:
            if time.monotonic() - start > args.primary_seconds:
                mock.failing.add("gpt-4o")
            with tracer.start_as_current_span("request"), ld.prompt_variant(args.variant):
                try:
                    client.chat.completions.create(model="gpt-4o", messages=messages)
                except openai.InternalServerError:
                    client.chat.completions.create(model="fallback-model", messages=messages)
            time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
