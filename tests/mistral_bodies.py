"""Real `mistralai` clients over an in-process `httpx2.MockTransport` answering Mistral's wire format.

Bodies follow https://docs.mistral.ai/api/#tag/chat: `chat.completion` JSON, and `text/event-stream`
of `chat.completion.chunk` objects (usage rides on the chunk with the finish reason) ended by
`data: [DONE]`.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mistralai.client import Mistral

from llm_drift_otel._mock_provider import STYLES

SERVER_URL = "http://127.0.0.1:9"  # never dialled: the mock transport answers
SYSTEM = "You are the support assistant. Answer with one JSON card: title, summary, actions, confidence."
TOOL = {"type": "function", "function": {
    "name": "lookup_order", "description": "Find an order by id",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}


def messages(user: str = "Where is my order?", system: str | None = SYSTEM) -> list[dict]:
    out = [{"role": "system", "content": system}] if system else []
    return out + [{"role": "user", "content": user}]


@dataclass
class MistralAPI:
    """Models -> house style (see `_mock_provider.STYLES`), or a tool call; `failing` models get `fail_status`."""

    styles: dict[str, str] = field(default_factory=dict)
    served: dict[str, str] = field(default_factory=dict)  # requested -> model the body names
    tool_models: set[str] = field(default_factory=set)
    thinking_models: set[str] = field(default_factory=set)  # Magistral-style: thinking chunk, then the answer
    failing: set[str] = field(default_factory=set)
    fail_status: int = 503
    seed: int = 0
    requests: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def text_for(self, model: str) -> str:
        return STYLES[self.styles.get(model, "prose")](self.rng)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.read() or b"{}")
        self.requests.append(body)
        model = body.get("model", "")
        if model in self.failing:
            return error_response(self.fail_status)
        served = self.served.get(model, model)
        if request.url.path != "/v1/chat/completions":
            return httpx2.Response(404, json={"detail": "Not Found"})
        if model in self.tool_models:
            call = tool_call({"order_id": f"A{self.rng.randint(1000, 9999)}"})
            if body.get("stream"):
                return sse_response(tool_call_chunks(served, call))
            return httpx2.Response(200, json=chat_body(served, "", tool_calls=[call]))
        text = self.text_for(model)
        thinking = "The user asks about an order; a JSON card fits." if model in self.thinking_models else None
        if body.get("stream"):
            return sse_response(chat_chunks(served, text, thinking=thinking))
        return httpx2.Response(200, json=chat_body(served, text, thinking=thinking))

    def clients(self) -> Mistral:
        """One `Mistral` client whose sync and async methods both use this API."""
        return Mistral(api_key="test-not-a-key", server_url=SERVER_URL,
                       client=httpx2.Client(transport=httpx2.MockTransport(self.handle)),
                       async_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self.handle)))


def usage(text: str) -> dict[str, int]:
    out = max(1, len(text) // 4)
    return {"prompt_tokens": 37, "completion_tokens": out, "total_tokens": 37 + out}


def tool_call(arguments: dict, call_id: str = "D681PevKs") -> dict:
    return {"id": call_id, "type": "function", "index": 0,
            "function": {"name": "lookup_order", "arguments": json.dumps(arguments)}}


def _thinking_chunk(thinking: str) -> dict:
    return {"type": "thinking", "thinking": [{"type": "text", "text": thinking}]}


def chat_body(model: str, text: str, *, tool_calls: list[dict] | None = None, thinking: str | None = None) -> dict:
    content: Any = [_thinking_chunk(thinking), {"type": "text", "text": text}] if thinking else text
    return {
        "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
        "object": "chat.completion",
        "model": model,
        "created": int(time.time()),
        "choices": [{"index": 0,
                     "message": {"role": "assistant", "content": content, "tool_calls": tool_calls, "prefix": False},
                     "finish_reason": "tool_calls" if tool_calls else "stop"}],
        "usage": usage(text or "tool"),
    }


def _chunk(model: str, delta: dict, finish: str | None = None, with_usage: dict | None = None) -> dict:
    chunk = {"id": "cmpl-3c7a1f0e2b9d4c57a0f4", "object": "chat.completion.chunk", "created": int(time.time()),
             "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
    if with_usage:
        chunk["usage"] = with_usage
    return chunk


def chat_chunks(model: str, text: str, pieces: int = 8, *, thinking: str | None = None) -> list[dict]:
    step = max(1, len(text) // pieces)
    chunks = [_chunk(model, {"role": "assistant", "content": ""})]
    if thinking:
        chunks.append(_chunk(model, {"content": [_thinking_chunk(thinking)]}))
    chunks += [_chunk(model, {"content": text[i:i + step]}) for i in range(0, len(text), step)]
    chunks.append(_chunk(model, {"content": ""}, "stop", usage(text)))
    return chunks


def tool_call_chunks(model: str, call: dict) -> list[dict]:
    return [_chunk(model, {"role": "assistant", "content": ""}),
            _chunk(model, {"tool_calls": [call]}, "tool_calls", usage("tool"))]


def sse_response(chunks: list[dict]) -> httpx2.Response:
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


def error_response(status: int) -> httpx2.Response:
    if status == 429:
        body = {"message": "Requests rate limit exceeded"}
    else:
        body = {"object": "error", "message": "Service unavailable, please retry later", "type": "service_unavailable",
                "param": None, "code": "3505"}
    return httpx2.Response(status, json=body)
