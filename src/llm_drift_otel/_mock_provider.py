"""A local LLM provider for examples, the demo and tests: no keys, no network.

It speaks the OpenAI API (`/v1/chat/completions`, `/v1/responses`, `/v1/embeddings`) and the Anthropic
Messages API (`POST /v1/messages`, JSON and SSE stream), with real response bodies of each.
Each model answers in its own house style (a JSON card, markdown bullets, prose, a tool call), with
values that change on every call and structure that does not, and any model can be made to fail with
429/503/529. A house style can also depend on the prompt (`prompt_styles`: a marker found in the system
prompt -> model -> style), so one provider can answer several prompt variants each in its own way.
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


def _ticket(rng: random.Random) -> dict[str, Any]:
    return {
        "priority": rng.choice(("low", "normal", "high", "urgent")),
        "category": rng.choice(("billing", "shipping", "account", "technical")),
        "summary": _phrase(rng, rng.randint(4, 9)).capitalize(),
    }


def tool_ticket(rng: random.Random) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """A triage habit: one `create_ticket` tool call and no text at all."""
    return "", [("create_ticket", _ticket(rng))]


def text_then_tool_ticket(rng: random.Random) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """Another vendor's triage habit: a sentence saying what it will do, then the same tool call."""
    lead = rng.choice(("I'll open a ticket for this so the team can follow up.",
                       "Let me create a ticket for this issue.",
                       "I'll file this with the support team right away."))
    return lead, [("create_ticket", _ticket(rng))]


#: Styles that answer with tool calls: (text before the calls, [(tool name, arguments)]).
TOOL_STYLES: dict[str, Callable[[random.Random], tuple[str, list[tuple[str, dict[str, Any]]]]]] = {
    "tool_ticket": tool_ticket,
    "text_then_tool_ticket": text_then_tool_ticket,
}

_ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                     429: "rate_limit_error", 500: "api_error", 503: "api_error", 529: "overloaded_error"}


def _system_prompt(request: dict[str, Any]) -> str:
    """The system prompt of an OpenAI chat / Responses or Anthropic Messages request body, as text."""
    parts: list[str] = []
    system = request.get("system")  # Anthropic: a string or a list of text blocks
    if isinstance(system, str):
        parts.append(system)
    elif isinstance(system, list):
        parts += [b.get("text", "") for b in system if isinstance(b, dict)]
    if isinstance(request.get("instructions"), str):  # Responses API
        parts.append(request["instructions"])
    for message in request.get("messages") or ():
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts += [b.get("text", "") for b in content if isinstance(b, dict)]
    return "\n".join(p for p in parts if isinstance(p, str))


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
    # marker (a substring of the system prompt) -> model -> style; the first marker found wins over `styles`
    prompt_styles: dict[str, dict[str, str]] = field(default_factory=dict)
    # seconds each successful answer takes, drawn uniformly from (low, high)
    latency: tuple[float, float] = (0.0, 0.0)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def style_for(self, model: str, system: str = "") -> str:
        """The house style `model` answers a prompt with this system prompt in."""
        if system:
            for marker, by_model in self.prompt_styles.items():
                if marker in system and model in by_model:
                    return by_model[model]
        return self.styles.get(model, self.default_style)

    def text_for(self, model: str, system: str = "") -> str:
        with self._lock:
            self.calls += 1
            style = self.style_for(model, system)
            if style in TOOL_STYLES:  # asked for text only: the text part of the habit
                return TOOL_STYLES[style](self._rng)[0]
            return STYLES[style](self._rng)

    def answer_for(self, model: str, system: str = "") -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        """(text, tool calls) of one answer of `model` to a prompt with this system prompt."""
        with self._lock:
            self.calls += 1
            style = self.style_for(model, system)
            if style in TOOL_STYLES:
                return TOOL_STYLES[style](self._rng)
            return STYLES[style](self._rng), []

    def _delay(self) -> None:
        low, high = self.latency
        if high > 0:
            with self._lock:
                seconds = self._rng.uniform(low, high)
            time.sleep(seconds)

    # --- the protocol ---

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self._error(400, "invalid_request_error", "body is not JSON")
        if not isinstance(request, dict):
            return self._error(400, "invalid_request_error", "body is not a JSON object")
        model = str(request.get("model") or "")
        route = path.split("?", 1)[0].rstrip("/")
        if route.endswith("/messages") or route.endswith("/messages/count_tokens"):
            return self._anthropic(route, request, model)
        if model in self.failing:
            kind = "rate_limit_error" if self.fail_status == 429 else "service_unavailable"
            return self._error(self.fail_status, kind, f"{model} is unavailable", {"retry-after-ms": "1"})
        served = self.snapshots.get(model, model)
        if path.endswith("/chat/completions"):
            system = _system_prompt(request) if self.prompt_styles else ""
            if self.style_for(model, system) in TOOL_STYLES:
                text, calls = self.answer_for(model, system)
                self._delay()
                tool_calls = [openai_tool_call(name, arguments) for name, arguments in calls]
                if request.get("stream"):
                    return 200, {"content-type": "text/event-stream"}, chat_stream_body(
                        served, text, tool_calls=tool_calls)
                return 200, {"content-type": "application/json"}, json.dumps(
                    chat_body(served, text, tool_calls=tool_calls, content_with_tools=bool(text))).encode()
            text = self.text_for(model, system)
            self._delay()
            if request.get("stream"):
                return 200, {"content-type": "text/event-stream"}, chat_stream_body(served, text)
            return 200, {"content-type": "application/json"}, json.dumps(chat_body(served, text)).encode()
        if path.endswith("/responses"):
            text = self.text_for(model, _system_prompt(request) if self.prompt_styles else "")
            self._delay()
            if request.get("stream"):
                return 200, {"content-type": "text/event-stream"}, responses_stream_body(served, text)
            return 200, {"content-type": "application/json"}, json.dumps(responses_body(served, text)).encode()
        if path.endswith("/embeddings"):
            return 200, {"content-type": "application/json"}, json.dumps(embeddings_body(served)).encode()
        return self._error(404, "not_found", f"no route {method} {path}")

    def _anthropic(self, route: str, request: dict[str, Any], model: str) -> tuple[int, dict[str, str], bytes]:
        """The Anthropic Messages API: `POST /v1/messages` (JSON or SSE) and `/v1/messages/count_tokens`."""
        if route.endswith("/count_tokens"):
            return 200, {"content-type": "application/json"}, json.dumps({"input_tokens": 42}).encode()
        if model in self.failing:
            return anthropic_error(self.fail_status, f"{model} is unavailable")
        served = self.snapshots.get(model, model)
        text, calls = self.answer_for(model, _system_prompt(request))
        self._delay()
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text or not calls else []
        for name, arguments in calls:
            content.append({"type": "tool_use", "id": f"toolu_{self._next_id()}", "name": name, "input": arguments})
        message = anthropic_message_body(served, content, "tool_use" if calls else "end_turn")
        headers = {"request-id": f"req_{self._next_id()}"}
        if request.get("stream"):
            return 200, {"content-type": "text/event-stream", **headers}, anthropic_stream_body(message)
        return 200, {"content-type": "application/json", **headers}, json.dumps(message).encode()

    def _next_id(self) -> str:
        with self._lock:
            return "".join(self._rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(20))

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
        self.port = port
        self.root_url = f"http://{host}:{port}"  # the Anthropic SDK's base URL (it adds /v1/messages)
        self.base_url = f"{self.root_url}/v1"  # the OpenAI SDK's base URL

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


def openai_tool_call(name: str, arguments: dict[str, Any], call_id: str | None = None) -> dict:
    """One entry of `message.tool_calls` as the OpenAI chat API sends it (arguments as JSON text)."""
    return {"id": call_id or f"call_{abs(hash((name, json.dumps(arguments, sort_keys=True)))) % 10**12}",
            "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def chat_body(model: str, text: str, *, tool_calls: list[dict] | None = None, refusal: str | None = None,
              content_with_tools: bool = False) -> dict:
    content = text if content_with_tools or not (tool_calls or refusal) else None
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
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


def chat_chunks(model: str, text: str, pieces: int = 8, *, usage: bool = True,
                tool_calls: list[dict] | None = None) -> list[dict]:
    step = max(1, len(text) // pieces)
    base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "system_fingerprint": "fp_mock"}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    for i in range(0, len(text), step):
        chunks.append({**base, "choices": [{"index": 0, "delta": {"content": text[i:i + step]}, "finish_reason": None}]})
    for index, call in enumerate(tool_calls or ()):
        arguments = call["function"]["arguments"]
        opened = {"index": index, "id": call["id"], "type": "function",
                  "function": {"name": call["function"]["name"], "arguments": ""}}
        chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [opened]}, "finish_reason": None}]})
        arg_step = max(1, len(arguments) // 4)
        for i in range(0, len(arguments), arg_step):
            piece = {"index": index, "function": {"arguments": arguments[i:i + arg_step]}}
            chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": None}]})
    finish = "tool_calls" if tool_calls else "stop"
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if usage:
        chunks.append({**base, "choices": [], "usage": _usage(text)})
    return chunks


def chat_stream_body(model: str, text: str, pieces: int = 8, *, tool_calls: list[dict] | None = None) -> bytes:
    return _sse(chat_chunks(model, text, pieces, tool_calls=tool_calls)) + b"data: [DONE]\n\n"


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


# --- real response bodies, as the Anthropic Messages API sends them ---

def anthropic_error(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    """`{"type": "error", "error": {...}}` with the error type the API uses for `status`."""
    kind = _ANTHROPIC_ERRORS.get(status, "api_error")
    body = json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    return status, {"content-type": "application/json", "request-id": "req_mock_error", "retry-after-ms": "1"}, body


def anthropic_message_body(model: str, content: list[dict[str, Any]], stop_reason: str = "end_turn") -> dict:
    """A `message` object of the Messages API."""
    out = max(1, sum(len(json.dumps(block)) for block in content) // 4)
    return {
        "id": f"msg_mock{int(time.time() * 1000) % 10**9}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 42, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": out, "service_tier": "standard"},
    }


def anthropic_stream_events(message: dict, pieces: int = 6) -> list[tuple[str, dict]]:
    """The server-sent events the Messages API streams for `message`: message_start, content blocks
    (text_delta / input_json_delta), message_delta with the stop reason and usage, message_stop."""
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


def anthropic_stream_body(message: dict) -> bytes:
    return _sse(anthropic_stream_events(message))
