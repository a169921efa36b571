"""One wrapper factory per kind of method (sync, async): they only route to the Runtime.

The wrappers read the current Runtime at call time, so an uninstrumented or inert wrapper is a
straight pass-through, and an exception of the SDK is re-raised as it was.
"""

from __future__ import annotations

from typing import Any, Callable

from ._log import stage_failed
from ._peers import wrapped_by_peer
from .providers import Endpoint
from .providers._common import _inside_routed_call, enter_routed_call, leave_routed_call

# The Runtime of the active instrumentation, or None. Set by the instrumentor.
_state: dict[str, Any] = {"runtime": None}


def current_runtime() -> Any:
    return _state["runtime"]


def set_runtime(runtime: Any) -> None:
    _state["runtime"] = runtime


def _accepts(endpoint: Endpoint, instance: Any, args: tuple, kwargs: dict) -> bool:
    """The endpoint's filter; a filter that raises declines the call (the call itself goes on)."""
    try:
        return bool(endpoint.accepts(instance, args, kwargs))  # type: ignore[misc]
    except Exception as exc:
        stage_failed("endpoint filter", exc)
        return False


def sync_wrapper(endpoint: Endpoint, provider: str) -> Callable[..., Any]:
    state, inside_routed_call, filtered = _state, _inside_routed_call.get, endpoint.accepts is not None

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        runtime = state["runtime"]
        if runtime is None or inside_routed_call():  # a router's own SDK calls: its span covers them
            return wrapped(*args, **kwargs)
        if filtered and not _accepts(endpoint, instance, args, kwargs):
            return wrapped(*args, **kwargs)
        call = runtime.begin(endpoint, provider, instance, args, kwargs, wrapped_by_peer(wrapped))
        if call is None:
            return wrapped(*args, **kwargs)
        token = enter_routed_call() if endpoint.routes_calls else None
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.detach()
            call.failed(exc)
            raise
        finally:
            if token is not None:
                leave_routed_call(token)
        call.detach()
        return call.returned(result)

    wrapper.__llm_drift_wrapper__ = True  # type: ignore[attr-defined]
    return wrapper


def async_wrapper(endpoint: Endpoint, provider: str) -> Callable[..., Any]:
    state, inside_routed_call, filtered = _state, _inside_routed_call.get, endpoint.accepts is not None

    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        runtime = state["runtime"]
        if runtime is None or inside_routed_call():  # a router's own SDK calls: its span covers them
            return await wrapped(*args, **kwargs)
        if filtered and not _accepts(endpoint, instance, args, kwargs):
            return await wrapped(*args, **kwargs)
        call = runtime.begin(endpoint, provider, instance, args, kwargs, wrapped_by_peer(wrapped))
        if call is None:
            return await wrapped(*args, **kwargs)
        token = enter_routed_call() if endpoint.routes_calls else None
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            call.detach()
            call.failed(exc)
            raise
        finally:
            if token is not None:
                leave_routed_call(token)
        call.detach()
        return call.returned(result)

    wrapper.__llm_drift_wrapper__ = True  # type: ignore[attr-defined]
    return wrapper
