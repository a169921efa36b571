"""llm-drift-otel: see when fallback LLM traffic answers in another shape than the primary's.

The public surface is what `__all__` lists; everything in `_`-modules is private. The
instrumentor is loaded lazily so that `import llm_drift_otel` stays cheap and imports no LLM SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._context import fallback, prompt_variant, request
from .version import __version__

if TYPE_CHECKING:
    from ._baseline import Baseline, Verdict
    from ._contract import Contract
    from ._fingerprint import ModelOutput, Shape, ToolCall
    from ._instrumentor import LLMDriftInstrumentor

# Loaded on first use, so that `import llm_drift_otel` costs next to nothing (no regex tables,
# no OpenTelemetry SDK, no LLM SDK) in processes that only import it.
_LAZY = {
    "Baseline": "._baseline",
    "Verdict": "._baseline",
    "Contract": "._contract",
    "ModelOutput": "._fingerprint",
    "Shape": "._fingerprint",
    "ToolCall": "._fingerprint",
    "LLMDriftInstrumentor": "._instrumentor",
}

__all__ = [
    "Baseline",
    "Contract",
    "LLMDriftInstrumentor",
    "ModelOutput",
    "Shape",
    "ToolCall",
    "Verdict",
    "__version__",
    "fallback",
    "fingerprint",
    "instrument",
    "prompt_variant",
    "request",
    "uninstrument",
]


def fingerprint(output: Any, *, max_scan_bytes: int | None = None, hash_keys: bool | None = None) -> "Shape":
    """The content-free shape of `output`: text, parsed JSON, a `ModelOutput`, or an SDK response object.

    Limits default to the environment (`LLM_DRIFT_MAX_SCAN_BYTES`, `LLM_DRIFT_SIGNATURE_KEYS`).
    """
    if max_scan_bytes is None or hash_keys is None:
        from ._config import from_env

        config = from_env()
        max_scan_bytes = config.max_scan_bytes if max_scan_bytes is None else max_scan_bytes
        hash_keys = config.hash_signature_keys if hash_keys is None else hash_keys
    from ._fingerprint import ModelOutput, fingerprint_output

    if output is not None and not isinstance(output, (str, bytes, bytearray, dict, list, tuple, ModelOutput)):
        from .providers import discover

        for adapter in discover():
            extracted = adapter.output_of(output)
            if extracted is not None:
                output = extracted
                break
    return fingerprint_output(output, max_scan_bytes=max_scan_bytes, hash_keys=hash_keys)


def instrument(**options: Any) -> "LLMDriftInstrumentor":
    """Same as `LLMDriftInstrumentor().instrument(**options)`; idempotent."""
    from ._instrumentor import instrument as _instrument

    return _instrument(**options)


def uninstrument() -> None:
    from ._instrumentor import uninstrument as _uninstrument

    _uninstrument()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_drift_otel' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
