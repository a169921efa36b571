"""Real `openai` SDK clients over an in-process mock transport answering real API bodies."""

from __future__ import annotations

import httpx2
import openai

from llm_drift_otel._mock_provider import MockProvider

BASE_URL = "http://127.0.0.1:9/v1"  # never dialled: the mock transport answers


def clients(provider: MockProvider, *, max_retries: int = 0) -> tuple[openai.OpenAI, openai.AsyncOpenAI]:
    sync = openai.OpenAI(api_key="sk-test-not-a-key", base_url=BASE_URL, max_retries=max_retries,
                         http_client=httpx2.Client(transport=provider.transport()))
    async_ = openai.AsyncOpenAI(api_key="sk-test-not-a-key", base_url=BASE_URL, max_retries=max_retries,
                                http_client=httpx2.AsyncClient(transport=provider.transport()))
    return sync, async_


SYSTEM = "You are the support assistant. Answer with one JSON card: title, summary, actions, confidence."


def messages(user: str = "Where is my order?") -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
