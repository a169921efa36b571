"""Other GenAI instrumentations on the same call: share their span, and never count a call twice.

When a peer's CLIENT span is the current span as our wrapper runs (the peer wraps outside us), our
attributes go onto that span instead of a second one. When a peer's wrapper sits inside ours, ours is
the call's span. Either way the peer records `gen_ai.client.*` metrics, so we do not.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

OUR_SCOPE = "llm_drift_otel"
_PEER_MODULES = ("opentelemetry.instrumentation.", "openinference.instrumentation.", "traceloop.",
                 "openlit.", "langfuse.", "langtrace_python_sdk.")


def wrapped_by_peer(wrapped: Any) -> bool:
    """Is the callable we are about to call another instrumentation's wrapt wrapper?"""
    wrapper = getattr(wrapped, "_self_wrapper", None)
    if wrapper is None:
        return False
    module = getattr(wrapper, "__module__", None) or ""
    return module.startswith(_PEER_MODULES)


def is_peer_llm_span(span: Any) -> bool:
    """A recording CLIENT span of another instrumentation that describes a GenAI call."""
    if not span.is_recording() or getattr(span, "kind", None) is not SpanKind.CLIENT:
        return False
    scope = getattr(getattr(span, "instrumentation_scope", None), "name", None)
    if scope is None or scope == OUR_SCOPE:
        return False
    attributes = getattr(span, "attributes", None) or {}
    return any(key.startswith("gen_ai.") for key in attributes)
