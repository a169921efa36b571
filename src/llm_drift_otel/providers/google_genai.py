"""Google GenAI SDK (`google-genai`): the Gemini API and Vertex AI through one client.

Wraps `Models.generate_content` / `generate_content_stream` and their `AsyncModels` forms
(`client.aio.models`). `Chat.send_message(_stream)` goes through these, so chats are covered too.
The sync stream method is a generator function and the async one a coroutine that returns an async
generator: both results have `__next__` / `__anext__`, so the core's stream proxies wrap them as they are.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .._fingerprint import ModelOutput, ToolCall
from . import Endpoint, RequestInfo, ResponseInfo
from ._common import TextBuffer, as_int, field, server_of, str_or_none

PROVIDER = "gcp.gemini"
VERTEX_PROVIDER = "gcp.vertex_ai"
_MODELS = "google.genai.models"

# Finish / block reasons by which Google says it withheld the answer: a refusal in Gemini's grammar.
_REFUSAL_REASONS = frozenset({
    "safety", "prohibited_content", "blocklist", "spii", "recitation", "image_safety",
    "image_prohibited_content", "model_armor", "jailbreak",
})


def _reason(value: Any) -> str | None:
    """An enum or string reason as a lower-case string (`FinishReason.STOP` -> "stop")."""
    value = getattr(value, "value", value)
    if isinstance(value, str) and value:
        return value.lower()
    return None


def _client_info(instance: Any) -> tuple[str, str | None, int | None]:
    api = getattr(instance, "_api_client", None)
    provider = VERTEX_PROVIDER if getattr(api, "vertexai", None) is True else PROVIDER
    host, port = server_of(field(getattr(api, "_http_options", None), "base_url"))
    return provider, host, port


def instruction_text(value: Any, depth: int = 0) -> str | None:
    """Text of a `system_instruction`: a string, a Content, a Part, or a list of strings/parts (or dicts)."""
    if value is None or depth > 3:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, (list, tuple)):
        texts = [t for t in (instruction_text(v, depth + 1) for v in value) if t]
        return "\n".join(texts) if texts else None
    parts = field(value, "parts")
    if parts is not None:
        return instruction_text(list(parts), depth + 1)
    text = field(value, "text")
    return text if isinstance(text, str) and text else None


def _output_type(config: Any) -> str | None:
    mime = field(config, "response_mime_type")
    if mime == "application/json" or field(config, "response_schema") is not None \
            or field(config, "response_json_schema") is not None:
        return "json"
    if mime == "text/plain":
        return "text"
    return None


def _request(instance: Any, kwargs: Mapping[str, Any], stream: bool) -> RequestInfo:
    provider, host, port = _client_info(instance)
    config = kwargs.get("config")
    return RequestInfo(
        provider=provider,
        model=str_or_none(kwargs.get("model")),
        system_prompt=instruction_text(field(config, "system_instruction")),
        stream=stream,
        server_address=host,
        server_port=port,
        output_type=_output_type(config),
        input_messages=kwargs.get("contents"),
    )


def generate_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    return _request(instance, kwargs, stream=False)


def stream_request(instance: Any, args: tuple, kwargs: Mapping[str, Any]) -> RequestInfo:
    return _request(instance, kwargs, stream=True)


def _blocked(response: Any) -> bool:
    reason = _reason(field(field(response, "prompt_feedback"), "block_reason"))
    return reason is not None and reason != "blocked_reason_unspecified"


def _output_tokens(usage: Any) -> int | None:
    """Candidates plus thinking tokens: both are billed as output, like OpenAI's completion_tokens."""
    candidates = as_int(field(usage, "candidates_token_count"))
    thoughts = as_int(field(usage, "thoughts_token_count"))
    if candidates is None and thoughts is None:
        return None
    return (candidates or 0) + (thoughts or 0)


def _read_parts(parts: Any, add_text: Callable[[str], Any], calls: list[ToolCall]) -> None:
    """Answer text and function calls of a candidate's parts; thought parts are not the answer."""
    for part in parts or ():
        if field(part, "thought") is True:
            continue
        call = field(part, "function_call")
        if call is not None:
            name = field(call, "name")
            if name:
                calls.append(ToolCall(str(name), field(call, "args")))
            continue
        text = field(part, "text")
        if isinstance(text, str):
            add_text(text)


def generate_output(response: Any) -> ModelOutput | None:
    candidates = field(response, "candidates")
    if not candidates:
        if _blocked(response):
            return ModelOutput(text="", refusal=True)
        return None if candidates is None and field(response, "prompt_feedback") is None else ModelOutput()
    first = candidates[0]
    texts: list[str] = []
    calls: list[ToolCall] = []
    _read_parts(field(field(first, "content"), "parts"), texts.append, calls)
    return ModelOutput(text="".join(texts), tool_calls=tuple(calls),
                       refusal=_reason(field(first, "finish_reason")) in _REFUSAL_REASONS)


def generate_response(response: Any) -> ResponseInfo:
    usage = field(response, "usage_metadata")
    candidates = field(response, "candidates") or ()
    reasons = tuple(r for r in (_reason(field(c, "finish_reason")) for c in candidates) if r)
    if not reasons and _blocked(response):
        reasons = (_reason(field(field(response, "prompt_feedback"), "block_reason")) or "blocked",)
    return ResponseInfo(
        model=str_or_none(field(response, "model_version")),
        id=str_or_none(field(response, "response_id")),
        finish_reasons=reasons,
        input_tokens=as_int(field(usage, "prompt_token_count")),
        output_tokens=_output_tokens(usage),
        output=generate_output(response),
    )


class GenerateStreamAccumulator:
    """Reads streamed `GenerateContentResponse` chunks: each carries a piece of candidate 0's parts;
    the model version comes with every chunk, usage and the finish reason with the last ones."""

    __slots__ = ("_text", "_model", "_id", "_finish", "_usage", "_calls", "_refusal")

    def __init__(self, limit: int) -> None:
        self._text = TextBuffer(limit)
        self._model: str | None = None
        self._id: str | None = None
        self._finish: str | None = None
        self._usage: Any = None
        self._calls: list[ToolCall] = []
        self._refusal = False

    def add(self, chunk: Any) -> None:
        if self._model is None:
            self._model = str_or_none(field(chunk, "model_version"))
        if self._id is None:
            self._id = str_or_none(field(chunk, "response_id"))
        usage = field(chunk, "usage_metadata")
        if usage is not None:
            self._usage = usage
        if _blocked(chunk):
            self._refusal = True
            self._finish = self._finish or _reason(field(field(chunk, "prompt_feedback"), "block_reason"))
        for candidate in field(chunk, "candidates") or ():
            if field(candidate, "index") not in (None, 0):
                continue
            _read_parts(field(field(candidate, "content"), "parts"), self._text.add, self._calls)
            reason = _reason(field(candidate, "finish_reason"))
            if reason:
                self._finish = reason
                if reason in _REFUSAL_REASONS:
                    self._refusal = True

    def result(self) -> ResponseInfo:
        return ResponseInfo(
            model=self._model,
            id=self._id,
            finish_reasons=(self._finish,) if self._finish else (),
            input_tokens=as_int(field(self._usage, "prompt_token_count")),
            output_tokens=_output_tokens(self._usage),
            output=ModelOutput(text=self._text.text(), tool_calls=tuple(self._calls), refusal=self._refusal),
        )


def _endpoints() -> list[Endpoint]:
    out: list[Endpoint] = []
    for is_async, owner in ((False, "Models"), (True, "AsyncModels")):
        out += [
            Endpoint(_MODELS, f"{owner}.generate_content", "chat", is_async, generate_request, generate_response),
            Endpoint(_MODELS, f"{owner}.generate_content_stream", "chat", is_async, stream_request,
                     generate_response, GenerateStreamAccumulator),
        ]
    return out


class GoogleGenAIAdapter:
    name = PROVIDER
    root_module = "google.genai"

    def endpoints(self) -> list[Endpoint]:
        return _endpoints()

    def output_of(self, response: Any) -> ModelOutput | None:
        module = type(response).__module__ or ""
        if not module.startswith("google.genai."):
            return None
        return generate_output(response)


ADAPTER = GoogleGenAIAdapter()
