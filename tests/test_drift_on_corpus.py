"""Real answers through the real SDK: spans' `drifted` must carry window evidence on free text.

gpt-4o's own answers (open-ended markdown) vary so much one by one that a per-answer verdict would
call most of them drifted; the alert rule compares the fallback's drifted share with the primary's, so
the span verdict has to hold its false-alarm rate on the primary and still see the fallback.
"""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

import llm_drift_otel as ld
from conftest import corpus_dir
from llm_drift_otel._mock_provider import chat_body

ARENA = "arena_hard_v0.1"
PRIMARY, FALLBACK = "gpt-4o-2024-08-06", "claude-3-5-sonnet-20240620"


def answers(model: str) -> list[str]:
    path = corpus_dir() / ARENA / f"{model}.jsonl"
    if not path.is_file():
        pytest.skip(f"corpus not found at {path}: these tests need the shared multi-model corpus")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows.sort(key=lambda r: str(r["prompt_id"]))
    return [r["output"] for r in rows]


def client_serving(queue: dict[str, list[str]]) -> openai.OpenAI:
    def handler(request: httpx2.Request) -> httpx2.Response:
        model = json.loads(request.read())["model"]
        return httpx2.Response(200, json=chat_body(model, queue[model].pop(0)))

    return openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))


def test_span_verdicts_on_real_answers_hold_false_alarms_and_see_the_fallback(instrument_with):
    primary, fallback = answers(PRIMARY), answers(FALLBACK)
    telemetry = instrument_with(warmup=20)
    # the first 250 primary answers teach the baseline, the next 200 are held-out primary traffic
    queue = {PRIMARY: primary[:450], FALLBACK: fallback[250:450]}
    client = client_serving(queue)
    messages = [{"role": "user", "content": "answer"}]
    with ld.prompt_variant("arena"):
        for _ in range(250):
            client.chat.completions.create(model=PRIMARY, messages=messages)
        for _ in range(200):
            client.chat.completions.create(model=PRIMARY, messages=messages)
        with ld.fallback(primary=f"openai/{PRIMARY}"):
            for _ in range(200):
                client.chat.completions.create(model=FALLBACK, messages=messages)
    spans = telemetry.llm_spans()
    held_out, served_by_fallback = spans[250:450], spans[450:]
    primary_share = sum(s.attributes["llm_drift.shape.drifted"] for s in held_out) / len(held_out)
    # the first answers of the failover fill the window; judge the rest
    fallback_share = sum(s.attributes["llm_drift.shape.drifted"] for s in served_by_fallback[20:]) / 180
    print(f"\ndrifted share: primary held-out {primary_share:.1%}, fallback {fallback_share:.1%}")
    assert primary_share <= 0.05
    assert fallback_share >= 0.9
    # what LLMFallbackStructuralDrift needs: fallback share >= 0.5 and >= primary share + 0.3
    assert fallback_share >= 0.5 and fallback_share - primary_share >= 0.3
