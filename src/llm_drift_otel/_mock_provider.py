"""A local OpenAI-compatible provider for examples, the demo and tests: no keys, no network.

Each model answers in its own house style (a JSON card, markdown bullets, prose), with values that
change on every call and structure that does not, and any model can be made to fail with 429/503.
The same `MockProvider.handle` serves an in-process `httpx2.MockTransport` and a real HTTP server
on 127.0.0.1, so tests and the example app exercise the real SDK over real HTTP bodies.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

_WORDS = ("order", "refund", "account", "delivery", "invoice", "upgrade", "password", "address",
          "warranty", "subscription", "payment", "shipping", "return", "discount", "support")


def _phrase(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def json_card(rng: random.Random) -> str:
    """The primary's house style: one JSON card, same keys every time, other values."""
    card = {
        "title": _phrase(rng, 3).capitalize(),
        "summary": _phrase(rng, rng.randint(8, 20)).capitalize() + ".",
        "actions": [_phrase(rng, rng.randint(2, 5)) for _ in range(rng.randint(1, 4))],
        "confidence": round(rng.random(), 2),
    }
    return json.dumps(card)


def markdown_bullets(rng: random.Random) -> str:
    """Another vendor's habit: a heading, bullets and a bold note."""
    bullets = "\n".join(f"- {_phrase(rng, rng.randint(3, 7))}" for _ in range(rng.randint(3, 4)))
    return f"## {_phrase(rng, 3).capitalize()}\n\n{bullets}\n\n**Note:** {_phrase(rng, 6)}."


def prose(rng: random.Random) -> str:
    return " ".join(_phrase(rng, rng.randint(6, 12)).capitalize() + "." for _ in range(rng.randint(2, 4)))


STYLES: dict[str, Callable[[random.Random], str]] = {
    "json_card": json_card,
    "markdown_bullets": markdown_bullets,
    "prose": prose,
}


@dataclass
class MockProvider:
    """Models -> house style; `failing` models answer with `fail_status` until they are healed."""

    styles: dict[str, str] = field(default_factory=lambda: {"gpt-4o": "json_card"})
    default_style: str = "prose"
    # served model name per requested model: "gpt-4o" is served as a dated snapshot, like the real API
    snapshots: dict[str, str] = field(default_factory=lambda: {"gpt-4o": "gpt-4o-2024-08-06"})
    fail_status: int = 503
    seed: int = 0
    failing: set[str] = field(default_factory=set)
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def text_for(self, model: str) -> str:
        with self._lock:
            self.calls += 1
            return STYLES[self.styles.get(model, self.default_style)](self._rng)

    # --- the protocol ---

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self._error(400, "invalid_request_error", "body is not JSON")
        model = str(request.get("model") or "")
        if model in self.failing:
            kind = "rate_limit_error" if self.fail_status == 429 else "service_unavailable"
            return self._error(self.fail_status, kind, f"{model} is unavailable", {"retry-after-ms": "1"})
        served = self.snapshots.get(model, model)
        if path.endswith("/chat/completions"):
            text = self.text_for(model)
            if request.get("stream"):
                return 200, {"content-type": "text/event-stream"}, chat_stream_body(served, text)
            return 200, {"content-type": "application/json"}, json.dumps(chat_body(served, text)).encode()
        if path.endswith("/responses"):
            text = self.text_for(model)
            if request.get("stream"):
                return 200, {"content-type": "text/event-stream"}, responses_stream_body(served, text)
            return 200, {"content-type": "application/json"}, json.dumps(responses_body(served, text)).encode()
        if path.endswith("/embeddings"):
            return 200, {"content-type": "application/json"}, json.dumps(embeddings_body(served)).encode()
        return self._error(404, "not_found", f"no route {method} {path}")

    @staticmethod
    def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps({"error": {"message": message, "type": kind, "code": kind}}).encode()
        return status, {"content-type": "application/json", **(headers or {})}, body

    # --- transports ---

    def transport(self, *, asynchronous: bool = False) -> Any:
        """An `httpx2.MockTransport` (or `httpx.MockTransport` for older SDKs) answering in-process."""
        try:
            import httpx2 as httpx_mod
        except ImportError:  # openai < 3 uses httpx
            import httpx as httpx_mod  # type: ignore[no-redef]

        def handler(request: Any) -> Any:
            status, headers, body = self.handle(request.method, request.url.path, request.read())
            return httpx_mod.Response(status, headers=headers, content=body)

        return httpx_mod.MockTransport(handler)

    def serve(self, port: int = 0) -> "RunningServer":
        """Serve on 127.0.0.1 in a daemon thread; `.base_url` is the OpenAI base URL (ends in /v1)."""
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                status, headers, body = provider.handle("POST", self.path, self.rfile.read(length))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="llm-drift-mock-provider", daemon=True)
        thread.start()
        return RunningServer(server, thread)


class RunningServer:
    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread
        host, port = server.server_address[:2]
        self.base_url = f"http://{host}:{port}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --- real response bodies, as the OpenAI API sends them ---

def _usage(text: str) -> dict[str, int]:
    out = max(1, len(text) // 4)
    return {"prompt_tokens": 42, "completion_tokens": out, "total_tokens": 42 + out}


def chat_body(model: str, text: str, *, tool_calls: list[dict] | None = None, refusal: str | None = None) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": None if tool_calls or refusal else text,
                               "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": f"chatcmpl-{int(time.time() * 1000) % 10**9}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if tool_calls else "stop"}],
        "usage": _usage(text),
    }


def _sse(events: list[Any]) -> bytes:
    out = []
    for event in events:
        if isinstance(event, tuple):
            name, data = event
            out.append(f"event: {name}\ndata: {json.dumps(data)}\n\n")
        else:
            out.append(f"data: {json.dumps(event)}\n\n")
    return "".join(out).encode()


def chat_chunks(model: str, text: str, pieces: int = 8, *, usage: bool = True) -> list[dict]:
    step = max(1, len(text) // pieces)
    base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "system_fingerprint": "fp_mock"}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    for i in range(0, len(text), step):
        chunks.append({**base, "choices": [{"index": 0, "delta": {"content": text[i:i + step]}, "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        chunks.append({**base, "choices": [], "usage": _usage(text)})
    return chunks


def chat_stream_body(model: str, text: str, pieces: int = 8) -> bytes:
    return _sse(chat_chunks(model, text, pieces)) + b"data: [DONE]\n\n"


def responses_body(model: str, text: str) -> dict:
    return {
        "id": "resp_mock",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [{
            "type": "message", "id": "msg_mock", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {"input_tokens": 42, "output_tokens": max(1, len(text) // 4), "total_tokens": 42 + max(1, len(text) // 4),
                  "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
    }


def responses_stream_body(model: str, text: str) -> bytes:
    final = responses_body(model, text)
    created = {**final, "status": "in_progress", "output": [], "usage": None}
    events: list[Any] = [("response.created", {"type": "response.created", "sequence_number": 0, "response": created})]
    seq = 1
    for i in range(0, len(text), 16):
        events.append(("response.output_text.delta", {
            "type": "response.output_text.delta", "sequence_number": seq, "item_id": "msg_mock",
            "output_index": 0, "content_index": 0, "delta": text[i:i + 16], "logprobs": []}))
        seq += 1
    events.append(("response.completed", {"type": "response.completed", "sequence_number": seq, "response": final}))
    return _sse(events)


def embeddings_body(model: str) -> dict:
    return {"object": "list", "model": model,
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
            "usage": {"prompt_tokens": 5, "total_tokens": 5}}
