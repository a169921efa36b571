"""Small readers shared by adapters: attribute-or-key access without dumping whole SDK objects."""

from __future__ import annotations

import json
import re
from contextvars import ContextVar, Token
from typing import Any, Iterable, Mapping

_MISSING = object()


def field(obj: Any, name: str, default: Any = None) -> Any:
    """`obj.name` or `obj[name]`, whichever the object has; `default` otherwise."""
    if type(obj) is dict:
        return obj.get(name, default)
    value = getattr(obj, name, _MISSING)
    if value is _MISSING:
        return obj.get(name, default) if isinstance(obj, dict) else default
    return value


def text_of_content(content: Any) -> str:
    """Text of a message `content`: a string, or a list of parts with `text` fields."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
                continue
            text = field(part, "text")
            if isinstance(text, str):
                parts.append(text)
        return "\n".join(parts)
    return ""


def system_text(messages: Any, roles: Iterable[str] = ("system", "developer")) -> str | None:
    """The system/developer instructions of a message list, joined; None when there are none."""
    if not isinstance(messages, (list, tuple)):
        return None
    wanted = set(roles)
    texts = []
    for message in messages:
        if field(message, "role") in wanted:
            text = text_of_content(field(message, "content"))
            if text:
                texts.append(text)
    return "\n".join(texts) if texts else None


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def server_of(base_url: Any) -> tuple[str | None, int | None]:
    """(host, port) of an SDK client's base URL object or string."""
    if base_url is None:
        return None, None
    host = getattr(base_url, "host", None)
    port = getattr(base_url, "port", None)
    if host is None and isinstance(base_url, str):
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        host, port = parts.hostname, parts.port
    return (host or None), (port if isinstance(port, int) else None)


class TextBuffer:
    """Collects streamed text pieces up to a byte budget: no quadratic concatenation, bounded memory."""

    __slots__ = ("_parts", "_size", "_limit", "truncated", "total_chars")

    def __init__(self, limit: int) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._limit = limit
        self.truncated = False
        self.total_chars = 0

    def add(self, piece: Any) -> None:
        if not isinstance(piece, str) or not piece:
            return
        self.total_chars += len(piece)
        if self._size >= self._limit:
            self.truncated = True
            return
        self._parts.append(piece)
        self._size += len(piece)

    def text(self) -> str:
        return "".join(self._parts)


# ---- calls made inside a router's call (LiteLLM -> litellm.acompletion -> the OpenAI SDK) ----

_inside_routed_call: ContextVar[bool] = ContextVar("llm_drift_inside_routed_call", default=False)


def inside_routed_call() -> bool:
    """True while an endpoint with `routes_calls` runs: its nested SDK calls are its internals."""
    return _inside_routed_call.get()


def enter_routed_call() -> Token[bool]:
    return _inside_routed_call.set(True)


def leave_routed_call(token: Token[bool]) -> None:
    _inside_routed_call.reset(token)


# ---- HTTP response headers of the current call (gateways report in headers) ----

_response_headers: ContextVar[Mapping[str, str] | None] = ContextVar("llm_drift_response_headers", default=None)


def note_response_headers(headers: Mapping[str, str] | None) -> None:
    """Keep the headers of the HTTP response the SDK is processing, for this context's current call."""
    _response_headers.set(headers)


def response_headers() -> Mapping[str, str] | None:
    """The headers noted last in this context (the current call's, once the SDK method returned)."""
    return _response_headers.get()


# ---- LiteLLM's fallback report: `_hidden_params["additional_headers"]` in the SDK, HTTP headers from its proxy ----

_LITELLM_ERROR_CLASS = re.compile(r"litellm\.(\w+)")


def litellm_fallbacks(headers: Mapping[str, Any] | None) -> int:
    """`x-litellm-attempted-fallbacks`: how many fallback groups LiteLLM tried (0 when absent)."""
    value = headers.get("x-litellm-attempted-fallbacks") if headers is not None else None
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def litellm_fallback_reason(headers: Mapping[str, Any] | None) -> str | None:
    """The primary's error class from `x-litellm-fallback-errors` (sent when the app set `include_fallback_errors`).

    Only the class name is taken from the message (`litellm.ServiceUnavailableError: ...`), never its text.
    """
    errors = headers.get("x-litellm-fallback-errors") if headers is not None else None
    if isinstance(errors, str):
        try:
            errors = json.loads(errors)
        except ValueError:
            return None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], Mapping):
        return None
    first = errors[0]
    match = _LITELLM_ERROR_CLASS.match(str(first.get("message") or ""))
    if match:
        return match.group(1)
    kind = first.get("type")
    if isinstance(kind, str) and kind and kind != "None":
        return kind
    code = first.get("code")
    return f"HTTP {code}" if code not in (None, "", "None") else None


# ---- the chat-completions wire format, shared by OpenAI-compatible SDKs (openai, mistralai) ----

def chat_tool_calls(raw: Any) -> tuple[Any, ...]:
    """`message.tool_calls` of a chat completion as `ToolCall`s (name and argument text, no values read)."""
    if not raw:
        return ()
    from .._fingerprint import ToolCall

    calls = []
    for call in raw or ():
        function = field(call, "function")
        name = field(function, "name") or field(call, "type") or "tool"
        calls.append(ToolCall(str(name), field(function, "arguments")))
    return tuple(calls)


def chat_usage(usage: Any) -> tuple[int | None, int | None]:
    """(input, output) tokens of a chat completion's `usage`."""
    return as_int(field(usage, "prompt_tokens")), as_int(field(usage, "completion_tokens"))
