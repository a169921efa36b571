"""`LLMDriftInstrumentor`: wires provider adapters' endpoints to wrappers, and nothing else.

SDKs already imported are patched at once; the others when they are imported (wrapt post-import
hooks). Classes are patched, not module functions, so clients created before instrumentation are
covered too.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any, Collection

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from . import semconv as sc
from ._config import resolve
from ._log import logger, stage_failed
from ._wrappers import async_wrapper, set_runtime, sync_wrapper
from .providers import Endpoint, ProviderAdapter, discover

_lock = threading.RLock()
_hooked: set[str] = set()  # root modules with a post-import hook registered (once per process)
_patched: list[tuple[type, str, Any]] = []  # (class, attribute, our FunctionWrapper)
_active = {"on": False}


def _is_ours(obj: Any) -> bool:
    return bool(getattr(getattr(obj, "_self_wrapper", None), "__llm_drift_wrapper__", False))


def _chain_has_ours(obj: Any) -> Any:
    """Our wrapper if it is anywhere in the chain of wrappers on this attribute (inert or not)."""
    seen = 0
    while obj is not None and seen < 32:
        if _is_ours(obj):
            return obj
        obj = getattr(obj, "__wrapped__", None)
        seen += 1
    return None


def _patch_endpoint(endpoint: Endpoint, provider: str) -> None:
    module = importlib.import_module(endpoint.module)
    class_name, dot, method = endpoint.method.partition(".")
    if dot:
        owner = getattr(module, class_name, None)
    else:  # a module-level function (litellm.completion): no class to patch
        owner, method = module, class_name
    if owner is None or method not in vars(owner):
        logger.debug("llm_drift_otel: %s.%s not in this SDK version; skipped", endpoint.module, endpoint.method)
        return
    existing = _chain_has_ours(vars(owner)[method])
    if existing is not None:
        if not any(p[2] is existing for p in _patched):
            _patched.append((owner, method, existing))
        return
    factory = async_wrapper if endpoint.is_async else sync_wrapper
    wrapper = factory(endpoint, provider)
    innermost = _innermost_wrapper(vars(owner)[method])
    if innermost is None:
        wrapt.wrap_function_wrapper(owner, method, wrapper)
        ours = vars(owner)[method]
    else:
        # Another instrumentation is already here: go beneath it. Peers' `unwrap` removes whatever
        # wrapper is on top, so being innermost means their uninstrument never takes us out.
        ours = wrapt.FunctionWrapper(innermost.__wrapped__, wrapper)
        innermost.__wrapped__ = ours
    _patched.append((owner, method, ours))


def _innermost_wrapper(obj: Any) -> Any:
    """The deepest wrapt function wrapper on an attribute, or None when it is not wrapped at all."""
    found = None
    depth = 0
    while isinstance(obj, wrapt.FunctionWrapper) and depth < 32:
        found, obj = obj, obj.__wrapped__
        depth += 1
    return found


def _patch_adapter(adapter: ProviderAdapter) -> None:
    with _lock:
        if not _active["on"]:
            return
        for endpoint in adapter.endpoints():
            try:
                _patch_endpoint(endpoint, adapter.name)
            except ImportError:
                logger.debug("llm_drift_otel: %s not importable; skipped", endpoint.module)
            except Exception as exc:
                stage_failed(f"patching {endpoint.module}.{endpoint.method}", exc)


def _unpatch_all() -> None:
    """Take our wrappers out, even from under another instrumentation's wrapper; else leave them inert."""
    with _lock:
        for owner, method, ours in reversed(_patched):
            current = vars(owner).get(method)
            try:
                if current is ours:
                    setattr(owner, method, ours.__wrapped__)
                    continue
                parent = current
                while parent is not None and getattr(parent, "__wrapped__", None) is not ours:
                    parent = getattr(parent, "__wrapped__", None)
                if parent is not None:
                    parent.__wrapped__ = ours.__wrapped__
            except Exception:
                # cannot splice: it stays in the chain but passes straight through (no runtime)
                logger.debug("llm_drift_otel: left an inert wrapper on %s.%s", owner.__name__, method)
        _patched.clear()


def _disabled_by_env() -> bool:
    names = os.environ.get(sc.ENV_DISABLED_INSTRUMENTATIONS, "")
    return sc.INSTRUMENTATION_NAME in {n.strip() for n in names.split(",")}


class LLMDriftInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments every supported LLM SDK, installed now or imported later."""

    def instrumentation_dependencies(self) -> Collection[str]:
        # Each SDK is optional: the adapters patch whichever are importable.
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        from ._runtime import Runtime

        tracer_provider = kwargs.pop("tracer_provider", None)
        meter_provider = kwargs.pop("meter_provider", None)
        kwargs.pop("logger_provider", None)
        kwargs.pop("event_logger_provider", None)
        config = resolve(kwargs)
        set_runtime(Runtime(config, tracer_provider, meter_provider))
        with _lock:
            _active["on"] = True
        for adapter in discover():
            if adapter.root_module in _hooked:
                # the hook exists already (an earlier instrument()): patch now if the SDK is loaded
                import sys

                if adapter.root_module in sys.modules:
                    _patch_adapter(adapter)
                continue
            _hooked.add(adapter.root_module)
            wrapt.register_post_import_hook(lambda _module, a=adapter: _patch_adapter(a), adapter.root_module)

    def _uninstrument(self, **kwargs: Any) -> None:
        with _lock:
            _active["on"] = False
        set_runtime(None)
        _unpatch_all()


def instrument(**options: Any) -> LLMDriftInstrumentor:
    """Instrument every supported SDK; a second call does nothing. Honours OTEL_PYTHON_DISABLED_INSTRUMENTATIONS."""
    instrumentor = LLMDriftInstrumentor()
    if _disabled_by_env():
        logger.info("llm_drift_otel: disabled by %s", sc.ENV_DISABLED_INSTRUMENTATIONS)
        return instrumentor
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(**options)
    return instrumentor


def uninstrument() -> None:
    instrumentor = LLMDriftInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
