"""`import llm_drift_otel.auto` at startup: OTel SDK from `OTEL_*` env if the app has none, then instrument.

When the app (or `opentelemetry-instrument`) already set tracer and meter providers, they are used
as they are; nothing is configured twice.
"""

from __future__ import annotations

from ._log import logger, stage_failed


def _providers_are_set() -> tuple[bool, bool]:
    from opentelemetry import metrics, trace

    tracer_set = not type(trace.get_tracer_provider()).__name__.startswith("Proxy")
    meter_set = not type(metrics.get_meter_provider()).__name__.startswith("_Proxy")
    return tracer_set, meter_set


def _configure_sdk() -> None:
    """Set up the SDK the way `opentelemetry-instrument` would (distro + configurator), once."""
    tracer_set, meter_set = _providers_are_set()
    if tracer_set and meter_set:
        return
    try:
        from opentelemetry.instrumentation.distro import BaseDistro  # noqa: F401
        from opentelemetry.sdk._configuration import _OTelSDKConfigurator
    except ImportError:
        logger.warning("llm_drift_otel.auto: opentelemetry-sdk is not installed; spans and metrics go nowhere")
        return
    import os

    # The distro's defaults: OTLP exporters unless the env says otherwise.
    os.environ.setdefault("OTEL_TRACES_EXPORTER", "otlp")
    os.environ.setdefault("OTEL_METRICS_EXPORTER", "otlp")
    os.environ.setdefault("OTEL_LOGS_EXPORTER", "none")
    _OTelSDKConfigurator().configure()


try:
    _configure_sdk()
except Exception as exc:  # the app must start even when telemetry cannot
    stage_failed("OpenTelemetry SDK setup", exc)

try:
    from ._instrumentor import instrument as _instrument

    _instrument()
except Exception as exc:
    stage_failed("instrumentation", exc)
