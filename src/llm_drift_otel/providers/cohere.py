"""Cohere Python SDK (`cohere`): the v2 Chat API, `ClientV2.chat` / `chat_stream` and the async client.

`ClientV2` / `AsyncClientV2` inherit `chat` and `chat_stream` from `cohere.v2.client.V2Client` /
`AsyncV2Client` (so does `Client().v2`, and the Bedrock / SageMaker / OCI v2 clients): those are
patched. They call the `RawV2Client` methods, which are left alone, so a call makes one span; the
`with_raw_response` forms are therefore not covered.

The v2 chat response does not name the model that served it: the serving model is the requested
one unless a future body carries a `model` field.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Mapping

from .._fingerprint import ModelOutput, ToolCall
from . import Endpoint, RequestInfo, ResponseInfo
from ._common import TextBuffer, field, server_of, str_or_none, system_text

PROVIDER = "cohere"
_V2 = "cohere.v2.client"


# ---- request ----

def _client_wrapper(instance: Any) -> Any:
    wrapper = getattr(instance, "_client_wrapper", None)
    if wrapper is None:  # `Client().v2` is a bare V2Client: only its raw client holds the wrapper
        wrapper = getattr(getattr(instance, "_raw_client", None), "_client_wrapper", None)
    return wrapper


def _provider(instance: Any) -> str:
    # BedrockClientV2 signs the same v2 calls for AWS Bedrock: that is who serves them.
    return "aws.bedrock" if "Bedrock" in type(instance).__name__ else PROVIDER


def _server(instance: Any) -> tuple[str | None, int | None]:
    get_base_url = getattr(_client_wrapper(instance), "get_base_url", None)
    return server_of(get_base_url()) if callable(get_base_url) else (None, None)


def _output_type(response_format: Any) -> str | None:
    kind = field(response_format, "type")
    if kind in ("json_object", "json_schema"):
        return "json"
    if kind == "text":
        return "text"
    return None


def _request(instance: Any, kwargs: Mapping[str, Any], stream: bool) -> RequestInfo:
    host, port = _server(instance)
    messages = kwargs.get("messages")
    return RequestInfo(
        provider=_provider(instance),
        model=str_or_none(kwargs.get("model")),
        system_prompt=system_text(messages, roles=("system",)),
        stream=stream,
        server_address=host,
        server_port=port,
        output_type=_output_type(kwargs.get("response_format")),
        input_messages=messages,
    )


def chat_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    return _request(instance, kwargs, stream=False)


def chat_stream_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    return _request(instance, kwargs, stream=True)


# ---- response ----

def _count(value: Any) -> int | None:
    """Cohere's token counts are JSON numbers the SDK types as float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _usage(usage: Any) -> tuple[int | None, int | None]:
    """Tokens the model read and wrote (`tokens`), else what was billed (`billed_units`, which leaves
    out the prompt template Cohere adds)."""
    for part in ("tokens", "billed_units"):
        counts = field(usage, part)
        if counts is not None:
            return _count(field(counts, "input_tokens")), _count(field(counts, "output_tokens"))
    return None, None


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    calls = []
    for call in raw or ():
        function = field(call, "function")
        calls.append(ToolCall(str(field(function, "name") or "tool"), field(function, "arguments")))
    return tuple(calls)


def chat_output(response: Any) -> ModelOutput | None:
    """Text items of `message.content` (not `thinking`, not the `tool_plan`: the model's working, not
    its answer) and `message.tool_calls`."""
    message = field(response, "message")
    if message is None:
        return None
    texts = []
    for item in field(message, "content") or ():
        if field(item, "type", "text") == "text":
            text = field(item, "text")
            if isinstance(text, str):
                texts.append(text)
    return ModelOutput(text="".join(texts), tool_calls=_tool_calls(field(message, "tool_calls")))


def chat_response(response: Any) -> ResponseInfo:
    reason = field(response, "finish_reason")
    input_tokens, output_tokens = _usage(field(response, "usage"))
    return ResponseInfo(
        model=str_or_none(field(response, "model")),
        id=str_or_none(field(response, "id")),
        finish_reasons=(str(reason),) if reason else (),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        output=chat_output(response),
    )


class ChatStreamAccumulator:
    """Reads v2 stream events: `message-start` (id), `content-delta` (text), `tool-call-start` /
    `tool-call-delta` (name, argument pieces), `message-end` (finish reason, usage)."""

    __slots__ = ("_text", "_id", "_model", "_finish", "_usage", "_tools")

    def __init__(self, limit: int) -> None:
        self._text = TextBuffer(limit)
        self._id: str | None = None
        self._model: str | None = None
        self._finish: str | None = None
        self._usage: Any = None
        self._tools: dict[Any, list[Any]] = {}

    def add(self, event: Any) -> None:
        kind = field(event, "type")
        message = field(field(event, "delta"), "message")
        if kind in ("content-delta", "content-start"):
            content = field(message, "content")  # a thinking delta carries `thinking`, its `text` is None
            if field(content, "type") != "thinking":
                self._text.add(field(content, "text"))
        elif kind == "tool-call-start":
            call = field(message, "tool_calls")
            function = field(call, "function")
            slot = self._tools.setdefault(field(event, "index", 0), [None, TextBuffer(65536)])
            slot[0] = str_or_none(field(function, "name"))
            slot[1].add(field(function, "arguments"))
        elif kind == "tool-call-delta":
            function = field(field(message, "tool_calls"), "function")
            slot = self._tools.setdefault(field(event, "index", 0), [None, TextBuffer(65536)])
            slot[1].add(field(function, "arguments"))
        elif kind == "message-start":
            self._id = str_or_none(field(event, "id"))
            self._model = str_or_none(field(event, "model"))
        elif kind == "message-end":
            delta = field(event, "delta")
            reason = field(delta, "finish_reason")
            self._finish = str(reason) if reason else None
            self._usage = field(delta, "usage")

    def result(self) -> ResponseInfo:
        tools = tuple(ToolCall(name or "tool", buf.text()) for _, (name, buf) in sorted(
            self._tools.items(), key=lambda item: item[0] if isinstance(item[0], int) else 0))
        input_tokens, output_tokens = _usage(self._usage)
        return ResponseInfo(
            model=self._model,
            id=self._id,
            finish_reasons=(self._finish,) if self._finish else (),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            output=ModelOutput(text=self._text.text(), tool_calls=tools),
        )


def _async_stream_is_generator() -> bool:
    """`AsyncV2Client.chat_stream` is an async generator function: calling it returns the stream
    without an await, so it takes the sync wrapper (which hands the stream to the async proxy). Should
    a version make it a coroutine, the async wrapper is the right one."""
    try:
        owner = importlib.import_module(_V2).AsyncV2Client
        return inspect.isasyncgenfunction(vars(owner)["chat_stream"])
    except Exception:
        return True


def _endpoints() -> list[Endpoint]:
    return [
        Endpoint(_V2, "V2Client.chat", "chat", False, chat_request, chat_response),
        Endpoint(_V2, "V2Client.chat_stream", "chat", False, chat_stream_request, chat_response,
                 ChatStreamAccumulator),
        Endpoint(_V2, "AsyncV2Client.chat", "chat", True, chat_request, chat_response),
        Endpoint(_V2, "AsyncV2Client.chat_stream", "chat", not _async_stream_is_generator(), chat_stream_request,
                 chat_response, ChatStreamAccumulator),
    ]


class CohereAdapter:
    name = PROVIDER
    root_module = "cohere"

    def endpoints(self) -> list[Endpoint]:
        return _endpoints()

    def output_of(self, response: Any) -> ModelOutput | None:
        if not (type(response).__module__ or "").startswith("cohere."):
            return None
        if field(response, "message") is not None and field(response, "finish_reason") is not None:
            return chat_output(response)
        return None


ADAPTER = CohereAdapter()
