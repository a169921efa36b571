"""Anthropic Python SDK (`anthropic`): every Messages API call, whichever SDK method made it.

Wrapped at the client's generic `request` (sync and async), filtered to `POST /v1/messages` by
`Endpoint.accepts`, rather than at `messages.create`:

- `messages.stream(...)` never calls `create`: its `MessageStreamManager` calls the client's `post`
  on `__enter__`, and its `MessageStream` reads the SDK `Stream` that `request` returns. Proxying that
  raw `Stream` means `text_stream`, `get_final_message()`, iteration and `close()` all pass through
  our proxy, so the helper gets one span, judged, ended when the helper ends.
- `create`, `create(stream=True)`, `parse`, `stream`, `with_raw_response`, `with_streaming_response`,
  `beta.messages.*` (and the tool runner's calls) all reach `request` once per API call, retries
  included: one span each, with nothing to deduplicate.
- `request` is looked up on the class at every call, so clients and resources made before
  `instrument()` are covered too (`with_raw_response.create` binds `create` when it is first built).

The SDK's own OpenTelemetry CLIENT span (`anthropic.messages.create`, started inside `request`, on by
default, off with `open_telemetry=False` or `ANTHROPIC_OPEN_TELEMETRY=false`) is a child of ours: ours is
the GenAI operation with the llm_drift.* verdict, theirs the API call's HTTP detail. The SDK (2.14)
records no metrics, so `gen_ai.client.*` are counted once, by the runtime; a test trips if that changes.
"""

from __future__ import annotations

import json
from typing import Any, Mapping
from urllib.parse import urlsplit

from .._fingerprint import ModelOutput, ToolCall
from . import Endpoint, RequestInfo, ResponseInfo
from ._common import TextBuffer, as_int, field, server_of, str_or_none, text_of_content

PROVIDER = "anthropic"
_CLIENT_MODULE = "anthropic._base_client"
_RAW_HEADER = "x-stainless-raw-response"
_MESSAGES_PATH = "/v1/messages"
_TOOL_INPUT_LIMIT = 65536


# ---- which calls are Messages API calls ----

def _options_of(args: tuple, kwargs: Mapping[str, Any]) -> Any:
    """The `FinalRequestOptions` of `client.request(cast_to, options, *, stream, stream_cls)`."""
    if len(args) > 1:
        return args[1]
    return kwargs.get("options")


def is_messages_call(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> bool:
    """True for `POST /v1/messages` (also `?beta=true`); not for `/v1/messages/count_tokens`, batches, ...

    Runs before every API call of the client, in the app's path: it never raises.
    """
    try:
        options = _options_of(args, kwargs)
        method, url = field(options, "method"), field(options, "url")
        if not isinstance(method, str) or not isinstance(url, str) or method.lower() != "post":
            return False
        path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
        return "/" + path.strip("/") == _MESSAGES_PATH
    except Exception:
        return False


# ---- request ----

def _raw_kind(options: Any) -> str | None:
    """`raw` for `with_raw_response`, `stream` for `with_streaming_response`, else None."""
    headers = field(options, "headers")
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == _RAW_HEADER and isinstance(value, str):
            return value
    return None


def _output_type(body: Any) -> str | None:
    for output_format in (field(field(body, "output_config"), "format"), field(body, "output_format")):
        if field(output_format, "type") == "json_schema":
            return "json"
    return None


def _provider_of(client: Any) -> str:
    """`anthropic`, or what the SDK's Bedrock / Vertex client classes say they are (`aws.bedrock`, ...)."""
    name = getattr(type(client), "_gen_ai_provider_name", None)
    return name if isinstance(name, str) and name else PROVIDER


def messages_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    options = _options_of(args, kwargs)
    body = field(options, "json_data")
    host, port = server_of(getattr(instance, "base_url", None))
    system = field(body, "system")  # a string or a list of text blocks (an `omit` sentinel when not given)
    system_text = text_of_content(system) if isinstance(system, (str, list, tuple)) else ""
    return RequestInfo(
        provider=_provider_of(instance),
        model=str_or_none(field(body, "model")),
        system_prompt=system_text or None,
        stream=kwargs.get("stream") is True,
        raw_response=_raw_kind(options) is not None,
        server_address=host,
        server_port=port,
        output_type=_output_type(body),
        input_messages=field(body, "messages"),
    )


# ---- response ----

def _input_tokens(usage: Any) -> int | None:
    """All input tokens, cached ones included (GenAI semconv; the SDK's own span counts the same way)."""
    base = as_int(field(usage, "input_tokens"))
    if base is None:
        return None
    cached = (as_int(field(usage, "cache_read_input_tokens")) or 0) + (
        as_int(field(usage, "cache_creation_input_tokens")) or 0)
    return base + cached


def message_output(message: Any) -> ModelOutput | None:
    """Text blocks joined (as `get_final_text` joins them), `tool_use` blocks as tool calls.

    Thinking blocks are the model's scratchpad, not its answer: they are left out of the shape.
    """
    content = field(message, "content")
    if not isinstance(content, (list, tuple)):
        return None
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in content:
        kind = field(block, "type")
        if kind == "text":
            text = field(block, "text")
            if isinstance(text, str):
                texts.append(text)
        elif kind == "tool_use":
            calls.append(ToolCall(str(field(block, "name") or "tool"), field(block, "input")))
    return ModelOutput(text="".join(texts), tool_calls=tuple(calls),
                       refusal=field(message, "stop_reason") == "refusal")


def message_response(response: Any) -> ResponseInfo:
    usage = field(response, "usage")
    stop = str_or_none(field(response, "stop_reason"))
    return ResponseInfo(
        model=str_or_none(field(response, "model")),
        id=str_or_none(field(response, "id")),
        finish_reasons=(stop,) if stop else (),
        input_tokens=_input_tokens(usage),
        output_tokens=as_int(field(usage, "output_tokens")),
        output=message_output(response),
    )


class MessageStreamAccumulator:
    """Reads raw Messages stream events: `message_start` (model, id, input usage), `content_block_*`
    (text deltas, tool names and `input_json_delta`s), `message_delta` (stop reason, output usage)."""

    __slots__ = ("_text", "_model", "_id", "_stop", "_input", "_output", "_tools")

    def __init__(self, limit: int) -> None:
        self._text = TextBuffer(limit)
        self._model: str | None = None
        self._id: str | None = None
        self._stop: str | None = None
        self._input: int | None = None
        self._output: int | None = None
        # block index -> [tool name, streamed input JSON, input given by content_block_start]
        self._tools: dict[int, list[Any]] = {}

    def add(self, event: Any) -> None:
        kind = field(event, "type")
        if kind == "content_block_delta":
            delta = field(event, "delta")
            delta_kind = field(delta, "type")
            if delta_kind == "text_delta":
                self._text.add(field(delta, "text"))
            elif delta_kind == "input_json_delta":
                tool = self._tools.get(field(event, "index"))
                if tool is not None:
                    tool[1].add(field(delta, "partial_json"))
        elif kind == "content_block_start":
            block = field(event, "content_block")
            block_kind = field(block, "type")
            if block_kind == "text":
                self._text.add(field(block, "text"))
            elif block_kind == "tool_use":
                index = field(event, "index")
                self._tools[index if isinstance(index, int) else len(self._tools)] = [
                    field(block, "name"), TextBuffer(_TOOL_INPUT_LIMIT), field(block, "input")]
        elif kind == "message_delta":
            stop = str_or_none(field(field(event, "delta"), "stop_reason"))
            if stop:
                self._stop = stop
            self._usage(field(event, "usage"))
        elif kind == "message_start":
            message = field(event, "message")
            self._model = str_or_none(field(message, "model")) or self._model
            self._id = str_or_none(field(message, "id")) or self._id
            self._usage(field(message, "usage"))

    def _usage(self, usage: Any) -> None:
        """Usage fields are cumulative: a later event's value replaces an earlier one."""
        input_tokens = _input_tokens(usage)
        if input_tokens is not None:
            self._input = input_tokens
        output_tokens = as_int(field(usage, "output_tokens"))
        if output_tokens is not None:
            self._output = output_tokens

    def result(self) -> ResponseInfo:
        calls = []
        for _, (name, streamed, started) in sorted(self._tools.items()):
            arguments = streamed.text()
            calls.append(ToolCall(str(name or "tool"), arguments if arguments else started))
        return ResponseInfo(
            model=self._model,
            id=self._id,
            finish_reasons=(self._stop,) if self._stop else (),
            input_tokens=self._input,
            output_tokens=self._output,
            output=ModelOutput(text=self._text.text(), tool_calls=tuple(calls), refusal=self._stop == "refusal"),
        )


def unwrap_raw(result: Any) -> tuple[Any, Mapping[str, str] | None]:
    """The body of a `with_raw_response` result, decoded from the bytes the SDK already read.

    The app's `APIResponse` is not parsed for it (the async one cannot be, here). A body not read yet
    (`with_streaming_response` over the network, or a stream) is left alone: reading it is the app's business.
    """
    http = getattr(result, "http_response", None)
    headers = getattr(http, "headers", None)
    if http is None or getattr(result, "_is_sse_stream", False):
        return None, headers
    content_type = str(headers.get("content-type", "") if headers is not None else "")
    if "json" not in content_type:
        return None, headers
    try:
        content = http.content  # raises when the body has not been read: then it stays unread
    except Exception:
        return None, headers
    return json.loads(content), headers


def _endpoints() -> list[Endpoint]:
    return [
        Endpoint(_CLIENT_MODULE, f"{prefix}APIClient.request", "chat", is_async, messages_request,
                 message_response, MessageStreamAccumulator, unwrap_raw=unwrap_raw, accepts=is_messages_call)
        for is_async, prefix in ((False, "Sync"), (True, "Async"))
    ]


class AnthropicAdapter:
    name = PROVIDER
    root_module = "anthropic"

    def endpoints(self) -> list[Endpoint]:
        return _endpoints()

    def output_of(self, response: Any) -> ModelOutput | None:
        module = type(response).__module__ or ""
        if not module.startswith("anthropic.") or field(response, "type") != "message":
            return None
        return message_output(response)


ADAPTER = AnthropicAdapter()
