"""Small readers shared by adapters: attribute-or-key access without dumping whole SDK objects."""

from __future__ import annotations

from typing import Any, Iterable

_MISSING = object()


def field(obj: Any, name: str, default: Any = None) -> Any:
    """`obj.name` or `obj[name]`, whichever the object has; `default` otherwise."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    value = getattr(obj, name, _MISSING)
    if value is _MISSING:
        return default
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
