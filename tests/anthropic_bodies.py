"""Real `anthropic` SDK clients over an in-process `httpx2.MockTransport` answering the Messages API's wire format.

Bodies follow https://docs.anthropic.com/en/api/messages and .../messages-streaming: a `message` JSON
object, or `text/event-stream` of `message_start`, `content_block_start`, `ping`, `content_block_delta`
(`text_delta` / `input_json_delta`), `content_block_stop`, `message_delta` (stop reason, output usage),
`message_stop`; errors as `{"type": "error", "error": {"type": ..., "message": ...}}`.
"""

from __future__ import annotations

import json
import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import anthropic
import httpx2

from llm_drift_otel._mock_provider import STYLES

BASE_URL = "http://127.0.0.1:9"  # never dialled: the mock transport answers
SYSTEM = "You are the support assistant. Answer with one JSON card: title, summary, actions, confidence."
TOOL = {"name": "lookup_order", "description": "Find an order by id",
        "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}
_ERROR_TYPES = {429: "rate_limit_error", 500: "api_error", 503: "api_error", 529: "overloaded_error"}


def messages(user: str = "Where is my order?") -> list[dict]:
    return [{"role": "user", "content": user}]


@dataclass
class AnthropicAPI:
    """Models -> house style (`_mock_provider.STYLES`), a tool call or a refusal; `failing` models get `fail_status`."""

    styles: dict[str, str] = field(default_factory=dict)
    served: dict[str, str] = field(default_factory=dict)  # requested -> model the response names
    tool_models: set[str] = field(default_factory=set)
    refusal_models: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)
    fail_status: int = 503
    seed: int = 0
    requests: list[tuple[str, dict, dict]] = field(default_factory=list)  # (path, body, headers)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def text_for(self, model: str) -> str:
        return STYLES[self.styles.get(model, "prose")](self.rng)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.read() or b"{}")
        self.requests.append((request.url.path, body, dict(request.headers)))
        model = body.get("model", "")
        if request.url.path == "/v1/messages/count_tokens":
            return httpx2.Response(200, json={"input_tokens": 17})
        if request.url.path != "/v1/messages":
            return error_response(404, "not_found_error")
        if model in self.failing:
            return error_response(self.fail_status)
        content, stop = self.content_for(model)
        message = message_body(self.served.get(model, model), content, stop)
        if body.get("stream"):
            return httpx2.Response(200, headers={"content-type": "text/event-stream", "request-id": "req_mock"},
                                   content=sse(stream_events(message)))
        return httpx2.Response(200, headers={"request-id": "req_mock"}, json=message)

    def content_for(self, model: str) -> tuple[list[dict], str]:
        if model in self.tool_models:
            order = f"A-{self.rng.randint(100, 999)}"
            return [{"type": "text", "text": "Let me look that order up."},
                    {"type": "tool_use", "id": f"toolu_{self.rng.randint(10**8, 10**9)}", "name": "lookup_order",
                     "input": {"order_id": order, "include_items": True}}], "tool_use"
        if model in self.refusal_models:
            # A refusal can cut the answer short anywhere: the stop reason says so, not the text.
            return [{"type": "text", "text": self.text_for(model)[:12]}], "refusal"
        return [{"type": "text", "text": self.text_for(model)}], "end_turn"

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)


def error_response(status: int, kind: str | None = None) -> httpx2.Response:
    kind = kind or _ERROR_TYPES.get(status, "api_error")
    return httpx2.Response(status, headers={"request-id": "req_err", "retry-after-ms": "1"},
                           json={"type": "error", "error": {"type": kind, "message": f"mock {kind}"}})


def _output_tokens(content: list[dict]) -> int:
    return max(1, sum(len(json.dumps(block)) for block in content) // 4)


def message_body(model: str, content: list[dict], stop_reason: str) -> dict:
    return {
        "id": "msg_01MockXk3v9Q2",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 42, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 8,
                  "output_tokens": _output_tokens(content), "service_tier": "standard"},
    }


def stream_events(message: dict, pieces: int = 6) -> list[tuple[str, dict]]:
    """The events the API streams for `message`, text and tool input cut in `pieces`."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**message["usage"], "output_tokens": 1}}
    events: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opened, text, delta_kind, key = {"type": "text", "text": ""}, block["text"], "text_delta", "text"
        else:
            opened = {**block, "input": {}}
            text, delta_kind, key = json.dumps(block["input"]), "input_json_delta", "partial_json"
        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": opened}))
        if index == 0:
            events.append(("ping", {"type": "ping"}))
        step = max(1, len(text) // pieces)
        for i in range(0, len(text), step):
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": delta_kind, key: text[i:i + step]}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                     "usage": {"output_tokens": message["usage"]["output_tokens"]}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def sse(events: list[tuple[str, dict]]) -> bytes:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def clients(api: AnthropicAPI, *, sdk_tracer_provider: Any = None,
            max_retries: int = 0) -> tuple[anthropic.Anthropic, anthropic.AsyncAnthropic]:
    """Sync and async clients; the SDK's own tracing off unless given a tracer provider to export to."""
    open_telemetry: Any = {"tracer_provider": sdk_tracer_provider} if sdk_tracer_provider is not None else False
    sync = anthropic.Anthropic(api_key="sk-ant-test-not-a-key", base_url=BASE_URL, max_retries=max_retries,
                               open_telemetry=open_telemetry, http_client=httpx2.Client(transport=api.transport()))
    async_ = anthropic.AsyncAnthropic(api_key="sk-ant-test-not-a-key", base_url=BASE_URL, max_retries=max_retries,
                                      open_telemetry=open_telemetry,
                                      http_client=httpx2.AsyncClient(transport=api.transport()))
    return sync, async_


@contextmanager
def serve(api: AnthropicAPI) -> Iterator[str]:
    """`api` on a real HTTP server on 127.0.0.1 (real sockets, SSE written in pieces); yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("content-length") or 0)
            request = httpx2.Request("POST", f"http://127.0.0.1{self.path}", headers=dict(self.headers),
                                     content=self.rfile.read(length))
            response = api.handle(request)
            body = response.read()
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), 64):
                self.wfile.write(body[start:start + 64])
                self.wfile.flush()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="anthropic-mock-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
