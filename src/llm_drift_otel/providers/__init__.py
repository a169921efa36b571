"""Provider adapters: one module per SDK, each exposing `ADAPTER`, an object of the `ProviderAdapter` Protocol.

Adding a provider is adding a module here; the instrumentor discovers them and touches nothing else.
Adapters only translate: SDK request arguments -> `RequestInfo`, SDK responses and stream chunks ->
`ResponseInfo`. Spans, metrics, baselines are the core's business.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from .._fingerprint import ModelOutput


@dataclass
class RequestInfo:
    """What the call asked for, read from the SDK method's arguments (never the prompt text itself)."""

    provider: str
    model: str | None = None
    system_prompt: str | None = None  # used only to hash a variant name; never exported
    stream: bool = False
    raw_response: bool = False  # the `with_raw_response` / `with_streaming_response` forms
    server_address: str | None = None
    server_port: int | None = None
    output_type: str | None = None  # gen_ai.output.type: text, json, ...
    input_messages: Any = None  # kept only when content capture is on


@dataclass
class GatewayReport:
    """A router or gateway said which model served and that it failed over."""

    fallback: bool = False
    primary: str | None = None
    reason: str | None = None
    serving_model: str | None = None


@dataclass
class ResponseInfo:
    model: str | None = None
    id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    input_tokens: int | None = None
    output_tokens: int | None = None
    output: ModelOutput | None = None
    gateway: GatewayReport | None = None
    complete: bool = True  # False for a stream closed before its end


@runtime_checkable
class StreamAccumulator(Protocol):
    """Folds a stream's chunks into one `ResponseInfo`, reading each chunk once."""

    def add(self, chunk: Any) -> None: ...

    def result(self) -> ResponseInfo: ...


@dataclass(frozen=True)
class Endpoint:
    """One SDK method to wrap, and how to read its arguments and results."""

    module: str  # e.g. "openai.resources.chat.completions.completions"
    method: str  # "Class.method", patched on the class
    operation: str  # gen_ai.operation.name
    is_async: bool
    request: Callable[[Any, tuple, Mapping[str, Any]], RequestInfo]
    response: Callable[[Any], ResponseInfo]
    stream: Callable[[int], StreamAccumulator] | None = None  # argument: max bytes of text to keep
    produces_output: bool = True  # False for embeddings: a span and a serving model, no shape
    # Given the method's return value, give back the object to read when it is a raw-response wrapper.
    unwrap_raw: Callable[[Any], tuple[Any, Mapping[str, str] | None]] | None = None
    # For a method every API call goes through (an SDK client's generic `request`): given
    # (instance, args, kwargs), False means this call is not an LLM call and passes straight through.
    accepts: Callable[[Any, tuple, Mapping[str, Any]], bool] | None = None
    # For a streaming call whose return value holds the stream (boto3: `{"stream": EventStream}`): given the
    # return value and `wrap` (an iterator -> the core's stream proxy, or None), put the proxy in place and
    # give back what the app gets; None when there is no stream in it (the call then finishes at once).
    stream_holder: Callable[[Any, Callable[[Any], Any]], Any] | None = None
    # A router/gateway entry point (LiteLLM): the instrumented SDK calls it makes while it runs are its
    # internals (each deployment attempt): they get no span of their own, so nothing is counted twice.
    routes_calls: bool = False


@runtime_checkable
class ProviderAdapter(Protocol):
    name: str  # gen_ai.provider.name default
    root_module: str  # top-level SDK module: patch when it is imported

    def endpoints(self) -> Sequence[Endpoint]: ...

    def output_of(self, response: Any) -> ModelOutput | None:
        """The output of an SDK response object, or None when it is not this SDK's."""
        ...


def discover() -> list[ProviderAdapter]:
    """Every `ADAPTER` of the modules in this package. Importing them imports no SDK."""
    adapters: list[ProviderAdapter] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        adapter = getattr(module, "ADAPTER", None)
        if adapter is not None:
            adapters.append(adapter)
    return adapters
