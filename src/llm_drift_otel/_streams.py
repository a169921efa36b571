"""Stream proxies: the app gets the SDK's own stream object back (same type for isinstance checks),
and the call's span ends exactly once, on exhaustion, error, close, `with` exit or garbage collection.

State lives in `_self_*` attributes, as wrapt requires for proxies.
"""

from __future__ import annotations

import inspect
from typing import Any

import wrapt

from ._log import stage_failed
from .providers import StreamAccumulator

_Proxy = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)


class _StreamState:
    """Shared by both proxies: feed chunks, finish once."""

    def _self_feed(self, chunk: Any) -> None:
        if self._self_accumulator is None:
            return
        try:
            self._self_accumulator.add(chunk)
        except Exception as exc:
            stage_failed("stream chunk extraction", exc)
            self._self_accumulator = None

    def _self_end(self, error: BaseException | None = None, exhausted: bool = False) -> None:
        call = self._self_call
        if call is None:
            return
        self._self_call = None
        if error is not None:
            call.failed(error)
            return
        info = None
        if self._self_accumulator is not None:
            try:
                info = self._self_accumulator.result()
                info.complete = exhausted
            except Exception as exc:
                stage_failed("stream result extraction", exc)
                info = None
        if info is None:
            from .providers import ResponseInfo

            info = ResponseInfo(complete=False)
        call.finish(info)


class SyncStreamProxy(_StreamState, _Proxy):
    def __init__(self, stream: Any, call: Any, accumulator: StreamAccumulator) -> None:
        super().__init__(stream)
        self._self_call = call
        self._self_accumulator = accumulator
        self._self_next = stream.__next__  # looked up once: this runs per chunk

    def __iter__(self) -> "SyncStreamProxy":
        return self

    def __next__(self) -> Any:
        try:
            chunk = self._self_next()
        except StopIteration:
            self._self_end(exhausted=True)
            raise
        except BaseException as exc:
            if isinstance(exc, GeneratorExit):
                self._self_end()
            else:
                self._self_end(exc)
            raise
        accumulator = self._self_accumulator
        if accumulator is not None:
            try:
                accumulator.add(chunk)
            except Exception as exc:
                stage_failed("stream chunk extraction", exc)
                self._self_accumulator = None
        return chunk

    def __enter__(self) -> "SyncStreamProxy":
        if not hasattr(type(self.__wrapped__), "__enter__"):
            # a generator: `with` must fail as it does bare (the interpreter's own error, not an AttributeError)
            with self.__wrapped__:  # raises before entering anything
                pass
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_end()

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_end()

    def __del__(self) -> None:
        try:
            self._self_end()
        except Exception:
            pass


class AsyncStreamProxy(_StreamState, _Proxy):
    def __init__(self, stream: Any, call: Any, accumulator: StreamAccumulator) -> None:
        super().__init__(stream)
        self._self_call = call
        self._self_accumulator = accumulator

    def __aiter__(self) -> "AsyncStreamProxy":
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_end(exhausted=True)
            raise
        except BaseException as exc:
            if isinstance(exc, GeneratorExit):
                self._self_end()
            else:
                self._self_end(exc)
            raise
        self._self_feed(chunk)
        return chunk

    async def __aenter__(self) -> "AsyncStreamProxy":
        if not hasattr(type(self.__wrapped__), "__aenter__"):
            # an async generator: `async with` must fail as it does bare (the interpreter's own error)
            async with self.__wrapped__:  # raises before entering anything
                pass
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_end()

    def close(self) -> Any:
        """The stream's own `close`, sync or async as it is (LiteLLM's async streams close synchronously)."""
        try:
            result = self.__wrapped__.close()
        except BaseException:
            self._self_end()
            raise
        if not inspect.isawaitable(result):
            self._self_end()
            return result

        async def closing() -> Any:
            try:
                return await result
            finally:
                self._self_end()

        return closing()

    @property
    def aclose(self) -> Any:
        """The stream's `aclose` (async generators close this way), or AttributeError when it has none, as without us."""
        stream_aclose = self.__wrapped__.aclose

        async def aclose() -> Any:
            try:
                return await stream_aclose()
            finally:
                self._self_end()

        return aclose

    def __del__(self) -> None:
        try:
            self._self_end()
        except Exception:
            pass


def wrap_stream(stream: Any, call: Any, accumulator: StreamAccumulator, *, asynchronous: bool) -> Any:
    """A proxy for `stream`, or None when it is not the iterator the method promises (the caller then finishes).

    The method's kind decides, not duck typing: another instrumentation's stream proxy may offer both
    `__next__` and `__anext__`.
    """
    if not asynchronous and hasattr(stream, "__anext__") and not hasattr(stream, "__next__"):
        asynchronous = True  # a plain method returning an async generator (cohere's AsyncV2Client.chat_stream)
    if asynchronous:
        return AsyncStreamProxy(stream, call, accumulator) if hasattr(stream, "__anext__") else None
    return SyncStreamProxy(stream, call, accumulator) if hasattr(stream, "__next__") else None
