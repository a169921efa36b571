"""Real `cohere` v2 clients over an in-process `httpx.MockTransport` answering Cohere's wire format.

Bodies follow https://docs.cohere.com/v2/reference/chat and chat-stream: the v2 chat JSON (no `model`
field: the API does not say which model served), and a `text/event-stream` of `event: <type>` /
`data: <json>` frames from `message-start` to `message-end`, which the SDK's `EventSource` parses.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

import cohere
import httpx

from llm_drift_otel._mock_provider import STYLES

BASE_URL = "http://127.0.0.1:9"  # never dialled: the mock transport answers
SYSTEM = "You are the support assistant. Answer with one JSON card: title, summary, actions, confidence."
TOOL = {"type": "function", "function": {
    "name": "lookup_order", "description": "Find an order by id",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}


def messages(user: str = "Where is my order?", system: str | None = SYSTEM) -> list[dict]:
    out = [{"role": "system", "content": system}] if system else []
    return out + [{"role": "user", "content": user}]


@dataclass
class CohereAPI:
    """Models -> house style (see `_mock_provider.STYLES`), or a tool call; `failing` models get `fail_status`."""

    styles: dict[str, str] = field(default_factory=dict)
    tool_models: set[str] = field(default_factory=set)
    thinking_models: set[str] = field(default_factory=set)  # reasoning models: a thinking item before the text
    failing: set[str] = field(default_factory=set)
    fail_status: int = 503
    seed: int = 0
    requests: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def text_for(self, model: str) -> str:
        return STYLES[self.styles.get(model, "prose")](self.rng)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.read() or b"{}")
        self.requests.append(body)
        model = body.get("model", "")
        if request.url.path != "/v2/chat":
            return httpx.Response(404, json={"message": "not found"})
        if model in self.failing:
            return error_response(self.fail_status)
        if model in self.tool_models:
            arguments = json.dumps({"order_id": f"A{self.rng.randint(1000, 9999)}"})
            if body.get("stream"):
                return sse_response(tool_call_events(arguments))
            return httpx.Response(200, json=tool_call_body(arguments))
        text = self.text_for(model)
        thinking = "The user asks about an order; a JSON card fits." if model in self.thinking_models else None
        if body.get("stream"):
            return sse_response(text_events(text, thinking=thinking))
        return httpx.Response(200, json=chat_body(text, thinking=thinking))

    def client(self) -> cohere.ClientV2:
        return cohere.ClientV2(api_key="test-not-a-key", base_url=BASE_URL, max_retries=0,
                               httpx_client=httpx.Client(transport=httpx.MockTransport(self.handle)))

    def async_client(self) -> cohere.AsyncClientV2:
        return cohere.AsyncClientV2(api_key="test-not-a-key", base_url=BASE_URL, max_retries=0,
                                    httpx_client=httpx.AsyncClient(transport=httpx.MockTransport(self.handle)))


def usage(text: str) -> dict:
    out = max(1, len(text) // 4)
    return {"billed_units": {"input_tokens": 12, "output_tokens": out},
            "tokens": {"input_tokens": 215, "output_tokens": out}}


def chat_body(text: str, *, thinking: str | None = None) -> dict:
    content = [{"type": "thinking", "thinking": thinking}] if thinking else []
    return {
        "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
        "message": {"role": "assistant", "content": content + [{"type": "text", "text": text}]},
        "finish_reason": "COMPLETE",
        "usage": usage(text),
    }


def tool_call_body(arguments: str) -> dict:
    return {
        "id": "f2c5e3a1-7c0e-4f5e-9d1e-0b6f3e8f2a11",
        "message": {
            "role": "assistant",
            "tool_plan": "I will look up the order, then answer.",
            "tool_calls": [{"id": "lookup_order_1byjy32y4hvq", "type": "function",
                            "function": {"name": "lookup_order", "arguments": arguments}}],
        },
        "finish_reason": "TOOL_CALL",
        "usage": usage("tool"),
    }


def _start() -> dict:
    return {"type": "message-start", "id": "29f14a5a-11de-4cae-9800-25e4747408ea",
            "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [],
                                  "citations": []}}}


def _end(reason: str, text: str) -> dict:
    return {"type": "message-end", "delta": {"finish_reason": reason, "usage": usage(text)}}


def text_events(text: str, pieces: int = 8, *, thinking: str | None = None) -> list[dict]:
    step = max(1, len(text) // pieces)
    events, index = [_start()], 0
    if thinking:
        events += [
            {"type": "content-start", "index": 0,
             "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}}},
            {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": thinking}}}},
            {"type": "content-end", "index": 0},
        ]
        index = 1
    events.append({"type": "content-start", "index": index,
                   "delta": {"message": {"content": {"type": "text", "text": ""}}}})
    events += [{"type": "content-delta", "index": index,
                "delta": {"message": {"content": {"text": text[i:i + step]}}}, "logprobs": None}
               for i in range(0, len(text), step)]
    events += [{"type": "content-end", "index": index}, _end("COMPLETE", text)]
    return events


def tool_call_events(arguments: str) -> list[dict]:
    half = len(arguments) // 2
    return [
        _start(),
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look up the order."}}},
        {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
            "id": "lookup_order_1byjy32y4hvq", "type": "function",
            "function": {"name": "lookup_order", "arguments": ""}}}}},
        {"type": "tool-call-delta", "index": 0,
         "delta": {"message": {"tool_calls": {"function": {"arguments": arguments[:half]}}}}},
        {"type": "tool-call-delta", "index": 0,
         "delta": {"message": {"tool_calls": {"function": {"arguments": arguments[half:]}}}}},
        {"type": "tool-call-end", "index": 0},
        _end("TOOL_CALL", "tool"),
    ]


def sse_response(events: list[dict]) -> httpx.Response:
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


def error_response(status: int) -> httpx.Response:
    message = "You are using a Trial key, which is limited to 10 API calls / minute." if status == 429 else (
        "service unavailable")
    return httpx.Response(status, json={"id": "5b2bd8b0-0d4e-4fb3-a38c-6b0b5e2b1c0f", "message": message})
