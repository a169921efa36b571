"""Real `google-genai` clients over an in-process `httpx2.MockTransport` answering Gemini API bodies.

The bodies are the REST API's own (camelCase JSON; `alt=sse` streams of `data: {...}` events), so the
SDK's real parsing runs. Text comes from `MockProvider`'s house styles; `failing` models answer with the
Google error body for `fail_status`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
from google import genai
from google.genai import types

from llm_drift_otel._mock_provider import MockProvider

BASE_URL = "http://127.0.0.1:9"  # never dialled: the mock transport answers
SYSTEM = "You are the support assistant. Answer with one JSON card: title, summary, actions, confidence."
SNAPSHOTS = {"gemini-1.5-pro": "gemini-1.5-pro-002", "gemini-1.5-flash": "gemini-1.5-flash-002"}
STYLES = {"gemini-1.5-pro": "json_card", "gemini-1.5-flash": "markdown_bullets"}
_STATUS = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class GeminiMock:
    """The Gemini REST API for a few models: house-style text, tool calls, safety blocks, failures."""

    def __init__(self, seed: int = 7) -> None:
        self.provider = MockProvider(styles=dict(STYLES), snapshots=dict(SNAPSHOTS), seed=seed)
        self.tool_models: set[str] = set()  # answer with a functionCall part
        self.blocked_models: set[str] = set()  # finishReason SAFETY, no content
        self.prompt_blocked_models: set[str] = set()  # promptFeedback.blockReason, no candidates
        self.paths: list[str] = []

    @property
    def failing(self) -> set[str]:
        return self.provider.failing

    def handler(self, request: Any) -> httpx2.Response:
        path = request.url.path
        self.paths.append(path)
        model, _, method = path.rsplit("/models/", 1)[-1].partition(":")
        if model in self.provider.failing:
            status = self.provider.fail_status
            error = {"error": {"code": status, "message": f"{model} is overloaded. Please try again later.",
                               "status": _STATUS.get(status, "UNAVAILABLE")}}
            return httpx2.Response(status, json=error)
        served = self.provider.snapshots.get(model, model)
        body = self.body(model, served)
        if method == "streamGenerateContent":
            return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                                   content=sse(stream_chunks(body)))
        return httpx2.Response(200, json=body)

    def body(self, model: str, served: str) -> dict:
        if model in self.prompt_blocked_models:
            return prompt_blocked_body(served)
        if model in self.blocked_models:
            return safety_body(served)
        if model in self.tool_models:
            return tool_call_body(served, "get_order_status", {"order_id": "A-1042", "verbose": True})
        return text_body(served, self.provider.text_for(model))

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handler)

    def client(self, *, vertexai: bool = False) -> genai.Client:
        options = types.HttpOptions(base_url=BASE_URL, client_args={"transport": self.transport()},
                                    async_client_args={"transport": self.transport()})
        return genai.Client(api_key="test-not-a-key", vertexai=vertexai, http_options=options)


def _usage(text: str) -> dict:
    out = max(1, len(text) // 4)
    return {"promptTokenCount": 42, "candidatesTokenCount": out, "totalTokenCount": 42 + out,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 42}]}


def text_body(served: str, text: str) -> dict:
    return {
        "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP",
                        "index": 0, "avgLogprobs": -0.21}],
        "usageMetadata": _usage(text),
        "modelVersion": served,
        "responseId": "mBzWZ7PXNqGS2PgP5YyQ8Ag",
    }


def tool_call_body(served: str, name: str, args: dict) -> dict:
    return {
        "candidates": [{"content": {"parts": [{"functionCall": {"name": name, "args": args}}], "role": "model"},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 57, "candidatesTokenCount": 12, "totalTokenCount": 69},
        "modelVersion": served,
        "responseId": "nBzWZ7PXNqGS2PgP5YyQ8Ag",
    }


_RATINGS = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
]


def safety_body(served: str) -> dict:
    return {
        "candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": _RATINGS}],
        "usageMetadata": {"promptTokenCount": 42, "totalTokenCount": 42},
        "modelVersion": served,
        "responseId": "oBzWZ7PXNqGS2PgP5YyQ8Ag",
    }


def prompt_blocked_body(served: str) -> dict:
    return {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT", "safetyRatings": _RATINGS},
        "usageMetadata": {"promptTokenCount": 42, "totalTokenCount": 42},
        "modelVersion": served,
    }


def stream_chunks(body: dict, pieces: int = 6) -> list[dict]:
    """The chunks the API streams for `body`: text in pieces, every chunk with the model version and usage
    so far, the finish reason on the last one. Bodies without text go out as one chunk."""
    candidates = body.get("candidates") or []
    parts = (candidates[0].get("content") or {}).get("parts") if candidates else None
    if not parts or "text" not in parts[0]:
        return [body]
    text = parts[0]["text"]
    step = max(1, len(text) // pieces)
    usage = body["usageMetadata"]
    chunks = []
    for i in range(0, len(text), step):
        last = i + step >= len(text)
        candidate: dict = {"content": {"parts": [{"text": text[i:i + step]}], "role": "model"}, "index": 0}
        if last:
            candidate["finishReason"] = "STOP"
        chunks.append({
            "candidates": [candidate],
            "usageMetadata": usage if last else {"promptTokenCount": usage["promptTokenCount"],
                                                 "totalTokenCount": usage["promptTokenCount"]},
            "modelVersion": body["modelVersion"],
            "responseId": body["responseId"],
        })
    return chunks


def sse(chunks: list[dict]) -> bytes:
    return "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()
