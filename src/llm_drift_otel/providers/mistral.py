"""Mistral AI Python SDK (`mistralai`): `chat.complete`, `chat.stream` and their `_async` forms.

`chat.parse` / `parse_stream` go through `complete` / `stream`, so they are covered with one span each.
From mistralai 2.0 the client lives in `mistralai.client` and `mistralai` itself is a namespace package
(no `__init__.py`); mistralai 1.x had `mistralai.chat`. Both layouts are listed: the one not installed
is skipped at patch time.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Iterator, Mapping

from .._fingerprint import ModelOutput, ToolCall
from . import Endpoint, RequestInfo, ResponseInfo
from ._common import TextBuffer, as_int, chat_tool_calls, chat_usage, field, server_of, str_or_none, system_text

PROVIDER = "mistral_ai"
_CHAT_MODULES = ("mistralai.client.chat", "mistralai.chat")  # mistralai >= 2, then 1.x


def _root_module() -> str:
    """The module whose import triggers patching.

    wrapt's post-import hooks never fire for a PEP 420 namespace package (its spec has no loader to
    chain), and `mistralai` >= 2 is one: there the hook goes on `mistralai.client`, a regular package
    every app imports to build a client. Finding the spec reads the file system, it imports nothing.
    """
    try:
        spec = importlib.util.find_spec("mistralai")
    except (ImportError, ValueError):
        return "mistralai"
    if spec is not None and spec.origin is None and spec.submodule_search_locations is not None:
        return "mistralai.client"
    return "mistralai"


# ---- request ----

def _server(instance: Any, kwargs: Mapping[str, Any]) -> tuple[str | None, int | None]:
    url = kwargs.get("server_url")
    if not isinstance(url, str) or not url:
        config = getattr(instance, "sdk_configuration", None)
        details = getattr(config, "get_server_details", None)
        url = details()[0] if callable(details) else None
    return server_of(url)


def _output_type(response_format: Any) -> str | None:
    kind = field(response_format, "type")
    if kind in ("json_object", "json_schema"):
        return "json"
    if kind == "text":
        return "text"
    return None


def _request(instance: Any, kwargs: Mapping[str, Any], stream: bool) -> RequestInfo:
    host, port = _server(instance, kwargs)
    messages = kwargs.get("messages")
    return RequestInfo(
        provider=PROVIDER,
        model=str_or_none(kwargs.get("model")),
        system_prompt=system_text(messages, roles=("system",)),
        stream=stream,
        server_address=host,
        server_port=port,
        output_type=_output_type(kwargs.get("response_format")),
        input_messages=messages,
    )


def complete_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    # `complete(stream=True)` is not a stream in this SDK: it fails on the SSE body, so never wrap it.
    return _request(instance, kwargs, stream=False)


def stream_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    return _request(instance, kwargs, stream=True)


# ---- response ----

def _text_pieces(content: Any) -> Iterator[str]:
    """Answer text of a message or delta `content`: a string, or chunks of which only `text` ones count
    (a reasoning model's `thinking` chunks are not its answer)."""
    if isinstance(content, str):
        yield content
        return
    if not isinstance(content, (list, tuple)):
        return
    for chunk in content:
        if isinstance(chunk, str):
            yield chunk
        elif field(chunk, "type", "text") == "text":
            text = field(chunk, "text")
            if isinstance(text, str):
                yield text






def chat_output(response: Any) -> ModelOutput | None:
    choices = field(response, "choices")
    if not choices:
        return None
    message = field(choices[0], "message")
    return ModelOutput(text="".join(_text_pieces(field(message, "content"))),
                       tool_calls=chat_tool_calls(field(message, "tool_calls")))


def chat_response(response: Any) -> ResponseInfo:
    choices = field(response, "choices") or ()
    input_tokens, output_tokens = chat_usage(field(response, "usage"))
    return ResponseInfo(
        model=str_or_none(field(response, "model")),
        id=str_or_none(field(response, "id")),
        finish_reasons=tuple(str(r) for r in (field(c, "finish_reason") for c in choices) if r),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        output=chat_output(response),
    )


class ChatStreamAccumulator:
    """Reads the `CompletionEvent`s of `chat.stream`: each one's `data` is a `CompletionChunk`.

    The model comes from the first chunk, usage from the last (Mistral sends it with the finish
    reason). Tool calls arrive whole in one delta; they are keyed by id, else by index.
    """

    __slots__ = ("_text", "_model", "_id", "_finish", "_usage", "_tools")

    def __init__(self, limit: int) -> None:
        self._text = TextBuffer(limit)
        self._model: str | None = None
        self._id: str | None = None
        self._finish: list[str] = []
        self._usage: Any = None
        self._tools: dict[Any, list[Any]] = {}

    def add(self, event: Any) -> None:
        chunk = field(event, "data", event)
        if self._model is None:
            self._model = str_or_none(field(chunk, "model"))
            self._id = str_or_none(field(chunk, "id"))
        usage = field(chunk, "usage")
        if usage:
            self._usage = usage
        for choice in field(chunk, "choices") or ():
            if field(choice, "index", 0) != 0:
                continue
            delta = field(choice, "delta")
            for piece in _text_pieces(field(delta, "content")):
                self._text.add(piece)
            for call in field(delta, "tool_calls") or ():
                self._add_tool_call(call)
            reason = field(choice, "finish_reason")
            if reason:
                self._finish.append(str(reason))

    def _add_tool_call(self, call: Any) -> None:
        call_id = field(call, "id")
        key = call_id if isinstance(call_id, str) and call_id and call_id != "null" else field(call, "index", 0)
        slot = self._tools.setdefault(key, [None, TextBuffer(65536), None])
        function = field(call, "function")
        if slot[0] is None:
            slot[0] = str_or_none(field(function, "name"))
        arguments = field(function, "arguments")
        if isinstance(arguments, Mapping):
            slot[2] = arguments
        else:
            slot[1].add(arguments)

    def result(self) -> ResponseInfo:
        tools = tuple(ToolCall(name or "tool", parsed if parsed is not None else buf.text())
                      for name, buf, parsed in self._tools.values())
        input_tokens, output_tokens = chat_usage(self._usage)
        return ResponseInfo(
            model=self._model,
            id=self._id,
            finish_reasons=tuple(self._finish),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            output=ModelOutput(text=self._text.text(), tool_calls=tools),
        )


def _endpoints() -> list[Endpoint]:
    out: list[Endpoint] = []
    for module in _CHAT_MODULES:
        out += [
            Endpoint(module, "Chat.complete", "chat", False, complete_request, chat_response),
            Endpoint(module, "Chat.complete_async", "chat", True, complete_request, chat_response),
            Endpoint(module, "Chat.stream", "chat", False, stream_request, chat_response, ChatStreamAccumulator),
            Endpoint(module, "Chat.stream_async", "chat", True, stream_request, chat_response,
                     ChatStreamAccumulator),
        ]
    return out


class MistralAdapter:
    name = PROVIDER

    @property
    def root_module(self) -> str:
        return _root_module()

    def endpoints(self) -> list[Endpoint]:
        return _endpoints()

    def output_of(self, response: Any) -> ModelOutput | None:
        if not (type(response).__module__ or "").startswith("mistralai."):
            return None
        if field(response, "choices") is not None:
            return chat_output(response)
        return None


ADAPTER = MistralAdapter()
