"""An ordinary support app with a fallback model, against a local mock provider on 127.0.0.1.

The app code is plain `openai` SDK: it asks gpt-4o for a JSON card and, when gpt-4o answers 429/503,
asks another model inside the same request span. Midway the primary starts failing.

Run it as the main job (it sets up OpenTelemetry and llm-drift-otel itself and prints one line per
LLM call: serving model, fallback, shape and drift verdict):

    python examples/failover_app.py

or leave it unmodified and instrument it from outside:

    opentelemetry-instrument --traces_exporter console --metrics_exporter console --logs_exporter none python examples/failover_app.py

No API key, no network: the provider is `llm_drift_otel._mock_provider` serving on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys

import openai
from opentelemetry import trace

from llm_drift_otel._mock_provider import MockProvider

PRIMARY = "gpt-4o"
FALLBACK = "mistral-large-latest"
SYSTEM = ("You are Acme's support assistant. Answer with one JSON object with keys "
          "title, summary, actions (list of strings) and confidence (0..1). No prose.")


def handle_request(client: openai.OpenAI, tracer: trace.Tracer, number: int, question: str) -> str:
    """One user request: primary first, the fallback model if the primary fails."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    with tracer.start_as_current_span("support request", attributes={"app.request.number": number}):
        try:
            response = client.chat.completions.create(model=PRIMARY, messages=messages)
        except (openai.RateLimitError, openai.InternalServerError):
            response = client.chat.completions.create(model=FALLBACK, messages=messages)
        return response.model


def _setup_standalone() -> None:
    """When nothing configured OpenTelemetry (not run under opentelemetry-instrument), do it here."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    import llm_drift_otel as ld

    class PrintLLMCalls(SpanExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            for span in spans:
                a = span.attributes or {}
                if "gen_ai.operation.name" not in a:
                    continue
                if "error.type" in a:
                    print(f"  {a.get('gen_ai.request.model'):<22} FAILED {a['error.type']}", flush=True)
                    continue
                fallback = (f"fallback={a.get('llm_drift.fallback.source')} primary={a.get('llm_drift.fallback.primary')}"
                            if a.get("llm_drift.fallback.active") else "primary")
                verdict = ("warming up" if "llm_drift.shape.drifted" not in a else
                           f"drifted={a['llm_drift.shape.drifted']!s:<5} score={a['llm_drift.shape.drift_score']:.2f}")
                print(f"  {a.get('llm_drift.serving.model'):<22} {fallback:<48} shape={a.get('llm_drift.shape.kind'):<9}"
                      f" {verdict}", flush=True)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(PrintLLMCalls()))
    trace.set_tracer_provider(provider)
    ld.instrument()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--fail-from", type=int, default=25, help="request number at which the primary starts failing")
    parser.add_argument("--fail-until", type=int, default=35, help="request number at which the primary recovers")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    standalone = type(trace.get_tracer_provider()).__name__.startswith("Proxy")
    if standalone:
        _setup_standalone()
    tracer = trace.get_tracer("acme.support")

    mock = MockProvider(styles={PRIMARY: "json_card", FALLBACK: "markdown_bullets"},
                        snapshots={PRIMARY: "gpt-4o-2024-08-06", FALLBACK: "mistral-large-2407"}, seed=args.seed)
    with mock.serve() as server:
        client = openai.OpenAI(api_key="sk-local-mock", base_url=server.base_url)
        for number in range(1, args.requests + 1):
            if number == args.fail_from:
                mock.failing.add(PRIMARY)
                print(f"-- request {number}: {PRIMARY} starts failing (503)", file=sys.stderr, flush=True)
            if number == args.fail_until:
                mock.failing.discard(PRIMARY)
                print(f"-- request {number}: {PRIMARY} is back", file=sys.stderr, flush=True)
            served = handle_request(client, tracer, number, f"Question {number} about my order")
            if not standalone:  # standalone, the span printer already shows each call
                print(f"request {number:>3} served by {served}", file=sys.stderr, flush=True)
    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
