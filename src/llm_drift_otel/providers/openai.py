"""OpenAI Python SDK (and everything that speaks its API through it: Azure, OpenRouter, LiteLLM proxy).

Wraps `chat.completions.create/parse`, `responses.create`, `embeddings.create`, sync and async. The
`with_raw_response` forms reach these same methods, so they are covered too.

Gateways in between report in the HTTP headers (LiteLLM proxy: `x-litellm-model-name`,
`x-litellm-attempted-fallbacks`) or the body (OpenRouter: the served `model`, with its vendor prefix).
Parsed SDK objects carry no headers, so `_process_response` (which every request goes through, with
the final `httpx` response) is tapped: its `accepts` notes the headers for the current call and answers
False, so it never makes a span.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Mapping

from .._fingerprint import ModelOutput, ToolCall
from .._models import is_substitution
from . import Endpoint, GatewayReport, RequestInfo, ResponseInfo
from ._common import (TextBuffer, as_int, chat_tool_calls, chat_usage, field, litellm_fallback_reason, litellm_fallbacks,
                      note_response_headers,
                      response_headers, server_of, str_or_none, system_text, text_of_content)

PROVIDER = "openai"
_RAW_HEADER = "X-Stainless-Raw-Response"
_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"
_EMBEDDINGS = "openai.resources.embeddings"
_BASE_CLIENT = "openai._base_client"


# (client class, URL object, (provider, host, port)) of the last call: an app talks through one or a few clients,
# and their URL objects are immutable, so the host and port are read once, not on every call. The key is the
# client's stored `_base_url` when it has one: the public `base_url` property of recent SDKs runs an import on
# every read, and its setter replaces `_base_url`, so a changed URL is seen at once.
_last_client: tuple = (None, None, None)


def _client_info(instance: Any) -> tuple[str, str | None, int | None]:
    global _last_client
    client = getattr(instance, "_client", None)
    kind = type(client)
    stored = getattr(client, "__dict__", None)
    key = stored.get("_base_url") if type(stored) is dict else None
    last = _last_client
    if key is not None and last[1] is key and last[0] is kind:
        return last[2]
    provider = PROVIDER
    if client is not None and "Azure" in kind.__name__:
        provider = "azure.ai.openai"
    host, port = server_of(getattr(client, "base_url", None))
    found = (provider, host, port)
    if key is not None and not isinstance(key, (str, bytes, bytearray)):
        _last_client = (kind, key, found)  # holds a class and a URL object, never the client itself
    return found


def _raw_kind(kwargs: Mapping[str, Any]) -> str | None:
    headers = kwargs.get("extra_headers")
    if headers is not None and isinstance(headers, Mapping):
        value = headers.get(_RAW_HEADER)
        if isinstance(value, str):
            return value
    return None


def _base_request(instance: Any, kwargs: Mapping[str, Any]) -> RequestInfo:
    provider, host, port = _client_info(instance)
    _note_request(kwargs)
    return RequestInfo(
        provider=provider,
        model=str_or_none(kwargs.get("model")),
        stream=kwargs.get("stream") is True,
        raw_response=_raw_kind(kwargs) is not None,
        server_address=host,
        server_port=port,
    )


def _output_type(response_format: Any) -> str | None:
    if response_format is None:
        return None
    if isinstance(response_format, type):  # a pydantic model passed to parse()
        return "json"
    kind = field(response_format, "type")
    if kind in ("json_object", "json_schema"):
        return "json"
    if kind == "text":
        return "text"
    return None


# ---- gateways in between: the LiteLLM proxy (HTTP headers), OpenRouter (body) ----

class _Asked:
    """What a call asked a gateway for: its model, and whether it listed fallbacks (OpenRouter `models`/`route`)."""

    __slots__ = ("model", "lists_fallbacks")

    def __init__(self, model: str | None, lists_fallbacks: bool) -> None:
        self.model = model
        self.lists_fallbacks = lists_fallbacks


# Set by the request readers, read by the response readers of the same call (the core calls both in the
# app's context around the SDK call); stream accumulators take it when they are made, right after the call.
_asked: ContextVar[_Asked | None] = ContextVar("llm_drift_openai_asked", default=None)


def _note_request(kwargs: Mapping[str, Any]) -> None:
    extra = kwargs.get("extra_body")
    lists_fallbacks = False
    if extra is not None and isinstance(extra, Mapping):
        lists_fallbacks = bool(field(extra, "models")) or field(extra, "route") == "fallback"
    _asked.set(_Asked(str_or_none(kwargs.get("model")), lists_fallbacks))
    note_response_headers(None)  # the tap notes this call's own


def note_headers(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> bool:
    """`accepts` of the `_process_response` tap: note the HTTP response headers; never a call of its own."""
    try:
        note_response_headers(getattr(kwargs.get("response"), "headers", None))
    except Exception:
        pass
    return False


def _has_litellm_headers(headers: Mapping[str, Any]) -> bool:
    """Might the LiteLLM proxy have reported in these headers? (Two membership tests: cheaper than two misses
    of `get` on an HTTP client's case-insensitive headers.)"""
    try:
        return "x-litellm-model-name" in headers or "x-litellm-attempted-fallbacks" in headers
    except Exception:
        return True  # an odd mapping: read it the long way


def gateway_of(asked: _Asked | None, headers: Mapping[str, str] | None, served: str | None) -> GatewayReport | None:
    """What a gateway reported: the LiteLLM proxy in its headers, OpenRouter by serving another listed model."""
    if headers is not None and _has_litellm_headers(headers):
        deployment = str_or_none(headers.get("x-litellm-model-name"))  # provider/model, e.g. azure/gpt-4o
        fallbacks = litellm_fallbacks(headers)
        if deployment is not None or fallbacks:
            fell_back = fallbacks > 0
            return GatewayReport(fallback=fell_back,
                                 primary=asked.model if fell_back and asked is not None else None,
                                 reason=litellm_fallback_reason(headers) if fell_back else None,
                                 serving_model=deployment or served)
    if asked is not None and asked.lists_fallbacks and asked.model and served and is_substitution(asked.model, served):
        return GatewayReport(fallback=True, primary=asked.model, serving_model=served)
    return None


def _with_gateway(info: ResponseInfo) -> ResponseInfo:
    info.gateway = gateway_of(_asked.get(), response_headers(), info.model)
    return info


# ---- chat.completions ----

def chat_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    info = _base_request(instance, kwargs)
    messages = kwargs.get("messages")
    info.system_prompt = system_text(messages)
    info.output_type = _output_type(kwargs.get("response_format"))
    info.input_messages = messages
    return info


def _message_output(content: Any, refusal: Any, tool_calls: Any) -> ModelOutput:
    """The output of a chat message: its text (else the refusal text), tool calls, refusal flag."""
    return ModelOutput(
        text=text_of_content(content) or (refusal if isinstance(refusal, str) else ""),
        tool_calls=chat_tool_calls(tool_calls),
        refusal=bool(refusal),
    )


def chat_output(response: Any) -> ModelOutput | None:
    choices = field(response, "choices")
    if not choices:
        return None
    message = field(choices[0], "message")
    return _message_output(field(message, "content"), field(message, "refusal"), field(message, "tool_calls"))


def chat_response(response: Any) -> ResponseInfo:
    if type(response) is _chat_completion_class():
        try:
            return _chat_completion_response(response)
        except Exception:  # an object not as the SDK's types say: read it the general way
            pass
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


_sdk_classes: dict[str, Any] = {}


def _sdk_class(module_name: str, name: str) -> Any:
    """One of the SDK's response types, once the SDK has loaded its module (never imported from here), or None."""
    key = module_name + ":" + name
    found = _sdk_classes.get(key)
    if found is None:
        import sys

        module = sys.modules.get(module_name)
        found = getattr(module, name, None) if module is not None else None
        if found is not None:
            _sdk_classes[key] = found
    return found


def _chat_completion_class() -> Any:
    return _sdk_class("openai.types.chat.chat_completion", "ChatCompletion")


def _chat_completion_response(response: Any) -> ResponseInfo:
    """`chat_response` for the SDK's own `ChatCompletion`: its fields read as attributes, values checked as there."""
    choices = response.choices or ()
    usage = response.usage
    input_tokens, output_tokens = (None, None) if usage is None else (
        as_int(usage.prompt_tokens), as_int(usage.completion_tokens))
    output = None
    if choices:
        message = choices[0].message
        output = _message_output(message.content, message.refusal, message.tool_calls)
    if len(choices) == 1:
        reason = choices[0].finish_reason
        finish_reasons = (str(reason),) if reason else ()
    else:
        finish_reasons = tuple(str(r) for r in (c.finish_reason for c in choices) if r)
    return ResponseInfo(
        model=str_or_none(response.model),
        id=str_or_none(response.id),
        finish_reasons=finish_reasons,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        output=output,
    )


def chat_result(response: Any) -> ResponseInfo:
    return _with_gateway(chat_response(response))


def _chunk_class() -> Any:
    return _sdk_class("openai.types.chat.chat_completion_chunk", "ChatCompletionChunk")


def _read_sdk_chunk(chunk: Any) -> tuple | None:
    """(usage, index, content, refusal, tool calls, finish reason) of the SDK's own one-choice
    `ChatCompletionChunk` (the common case), read as attributes; None for any other chunk, or an odd one,
    which is then read the general way (every field read before anything is kept)."""
    try:
        choices = chunk.choices
        if len(choices) != 1:
            return None
        choice = choices[0]
        delta = choice.delta
        return (chunk.usage, choice.index, delta.content, delta.refusal, delta.tool_calls, choice.finish_reason)
    except Exception:
        return None


class ChatStreamAccumulator:
    """Reads `ChatCompletionChunk`s: model from the first chunk that has one, text and tool-call deltas."""

    __slots__ = ("_text", "_model", "_id", "_finish", "_usage", "_tools", "_refusal", "_asked", "_headers")

    def __init__(self, limit: int) -> None:
        self._asked = _asked.get()  # made right after the call returned, in its context
        self._headers = response_headers()
        self._text = TextBuffer(limit)
        self._model: str | None = None
        self._id: str | None = None
        self._finish: list[str] = []
        self._usage: Any = None
        self._tools: dict[int, list[Any]] = {}
        self._refusal = TextBuffer(4096)

    def add(self, chunk: Any) -> None:
        sdk = _read_sdk_chunk(chunk) if type(chunk) is _chunk_class() else None
        if self._model is None:
            self._model = str_or_none(field(chunk, "model"))
            self._id = str_or_none(field(chunk, "id"))
        usage = sdk[0] if sdk is not None else field(chunk, "usage")
        if usage is not None:
            self._usage = usage
        if sdk is not None:
            if sdk[1] == 0:
                self._keep(*sdk[2:])
            return
        for choice in field(chunk, "choices") or ():
            if field(choice, "index", 0) != 0:
                continue
            delta = field(choice, "delta")
            self._keep(field(delta, "content"), field(delta, "refusal"), field(delta, "tool_calls"),
                       field(choice, "finish_reason"))

    def _keep(self, content: Any, refusal: Any, calls: Any, reason: Any) -> None:
        """What the first choice's delta adds: a piece of text (the common chunk), refusal, tool calls, the end."""
        if content:
            self._text.add(content)
        if refusal:
            self._refusal.add(refusal)
        if calls:
            self._add_tool_calls(calls)
        if reason:
            self._finish.append(str(reason))

    def _add_tool_calls(self, calls: Any) -> None:
        for call in calls or ():
            index = field(call, "index", 0)
            slot = self._tools.setdefault(index, [None, TextBuffer(65536)])
            function = field(call, "function")
            if slot[0] is None:
                slot[0] = field(function, "name")
            slot[1].add(field(function, "arguments"))

    def result(self) -> ResponseInfo:
        info = self.read()
        info.gateway = gateway_of(self._asked, self._headers, info.model)
        return info

    def read(self) -> ResponseInfo:
        """What the chunks said, without any gateway's report."""
        tools = tuple(
            ToolCall(str(name or "tool"), buf.text()) for _, (name, buf) in sorted(self._tools.items())
        )
        refusal = self._refusal.text()
        input_tokens, output_tokens = chat_usage(self._usage)
        return ResponseInfo(
            model=self._model,
            id=self._id,
            finish_reasons=tuple(self._finish),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            output=ModelOutput(text=self._text.text() or refusal, tool_calls=tools, refusal=bool(refusal)),
        )


# ---- responses ----

def responses_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    info = _base_request(instance, kwargs)
    instructions = kwargs.get("instructions")
    parts = [instructions] if isinstance(instructions, str) and instructions else []
    from_input = system_text(kwargs.get("input"))
    if from_input:
        parts.append(from_input)
    info.system_prompt = "\n".join(parts) or None
    info.output_type = _output_type(field(kwargs.get("text"), "format")) or (
        "json" if isinstance(kwargs.get("text_format"), type) else None
    )
    info.input_messages = kwargs.get("input")
    return info


def responses_output(response: Any) -> ModelOutput | None:
    items = field(response, "output")
    if items is None:
        return None
    texts: list[str] = []
    calls: list[ToolCall] = []
    refusal = False
    for item in items:
        kind = field(item, "type")
        if kind == "message":
            for part in field(item, "content") or ():
                part_type = field(part, "type")
                if part_type == "output_text":
                    texts.append(field(part, "text") or "")
                elif part_type == "refusal":
                    refusal = True
                    texts.append(field(part, "refusal") or "")
        elif kind == "function_call" or kind == "custom_tool_call":
            calls.append(ToolCall(str(field(item, "name") or "tool"), field(item, "arguments", field(item, "input"))))
    return ModelOutput(text="".join(texts), tool_calls=tuple(calls), refusal=refusal)


def responses_response(response: Any) -> ResponseInfo:
    usage = field(response, "usage")
    status = field(response, "status")
    return ResponseInfo(
        model=str_or_none(field(response, "model")),
        id=str_or_none(field(response, "id")),
        finish_reasons=(str(status),) if status else (),
        input_tokens=as_int(field(usage, "input_tokens")),
        output_tokens=as_int(field(usage, "output_tokens")),
        output=responses_output(response),
    )


def responses_result(response: Any) -> ResponseInfo:
    return _with_gateway(responses_response(response))


class ResponsesStreamAccumulator:
    """Reads Responses API stream events: the final event carries the whole response."""

    __slots__ = ("_final", "_model", "_id", "_text", "_asked", "_headers")

    _FINAL = ("response.completed", "response.incomplete", "response.failed")

    def __init__(self, limit: int) -> None:
        self._asked = _asked.get()
        self._headers = response_headers()
        self._final: Any = None
        self._model: str | None = None
        self._id: str | None = None
        self._text = TextBuffer(limit)

    def add(self, event: Any) -> None:
        kind = field(event, "type")
        if kind == "response.output_text.delta":
            self._text.add(field(event, "delta"))
        elif kind in self._FINAL:
            self._final = field(event, "response")
        elif self._model is None and kind == "response.created":
            response = field(event, "response")
            self._model = str_or_none(field(response, "model"))
            self._id = str_or_none(field(response, "id"))

    def result(self) -> ResponseInfo:
        if self._final is not None:
            info = responses_response(self._final)
        else:
            info = ResponseInfo(model=self._model, id=self._id, output=ModelOutput(text=self._text.text()))
        info.gateway = gateway_of(self._asked, self._headers, info.model)
        return info


# ---- embeddings ----

def embeddings_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    return _base_request(instance, kwargs)


def embeddings_response(response: Any) -> ResponseInfo:
    usage = field(response, "usage")
    return ResponseInfo(
        model=str_or_none(field(response, "model")),
        input_tokens=as_int(field(usage, "prompt_tokens")),
    )


def embeddings_result(response: Any) -> ResponseInfo:
    return _with_gateway(embeddings_response(response))


def unwrap_raw(result: Any) -> tuple[Any, Mapping[str, str] | None]:
    """`with_raw_response` returns a LegacyAPIResponse: parse it (the SDK caches the parse) for the body.

    Streams and `with_streaming_response` bodies are left unread: reading them is the app's business.
    """
    headers = getattr(result, "headers", None)
    name = type(result).__name__
    if name == "LegacyAPIResponse" and not getattr(result, "_stream", False):
        return result.parse(), headers
    return None, headers


def _endpoints() -> list[Endpoint]:
    out: list[Endpoint] = []
    for is_async, prefix in ((False, ""), (True, "Async")):
        out += [
            Endpoint(_CHAT, f"{prefix}Completions.create", "chat", is_async, chat_request, chat_result,
                     ChatStreamAccumulator, unwrap_raw=unwrap_raw),
            Endpoint(_CHAT, f"{prefix}Completions.parse", "chat", is_async, chat_request, chat_result,
                     None, unwrap_raw=unwrap_raw),
            Endpoint(_RESPONSES, f"{prefix}Responses.create", "chat", is_async, responses_request,
                     responses_result, ResponsesStreamAccumulator, unwrap_raw=unwrap_raw),
            Endpoint(_EMBEDDINGS, f"{prefix}Embeddings.create", "embeddings", is_async, embeddings_request,
                     embeddings_result, None, produces_output=False, unwrap_raw=unwrap_raw),
            # the tap: sees each HTTP response's headers, makes no span (`note_headers` answers False)
            Endpoint(_BASE_CLIENT, f"{prefix or 'Sync'}APIClient._process_response", "chat", is_async, _never,
                     _never_response, None, produces_output=False, accepts=note_headers),
        ]
    return out


def _never(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    return RequestInfo(provider=PROVIDER)  # the tap's `accepts` is False: no call is ever begun


def _never_response(response: Any) -> ResponseInfo:
    return ResponseInfo(complete=False)


class OpenAIAdapter:
    name = PROVIDER
    root_module = "openai"

    def endpoints(self) -> list[Endpoint]:
        return _endpoints()

    def output_of(self, response: Any) -> ModelOutput | None:
        module = type(response).__module__ or ""
        if not module.startswith("openai."):
            return None
        if field(response, "choices") is not None:
            return chat_output(response)
        if field(response, "output") is not None:
            return responses_output(response)
        return None


ADAPTER = OpenAIAdapter()
