"""Gateways reached through the OpenAI SDK: the LiteLLM proxy (it reports in HTTP headers) and OpenRouter
(it reports in the body). The real `openai` SDK over an `httpx2.MockTransport` that answers what those
gateways send: their headers, their bodies, their SSE streams.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx2
import openai
import pytest

import llm_drift_otel as ld
from llm_drift_otel._mock_provider import MockProvider, chat_body, chat_stream_body, responses_body
from openai_helpers import messages

BASE_URL = "http://127.0.0.1:9/v1"  # never dialled: the mock transport answers
JSON_CARD = json.dumps({"title": "Order status", "summary": "Shipped today.", "actions": ["track"], "confidence": 0.9})
MARKDOWN = "## Order status\n\n- shipped today\n- arrives Monday\n\n**Note:** tracking sent by mail."


# ---- what the gateways send ----

def litellm_proxy_headers(*, group: str, deployment: str, fallbacks: int, errors: list[dict] | None = None,
                          streaming: bool = False) -> dict[str, str]:
    """Response headers of a LiteLLM proxy (`get_custom_headers` plus the router's `additional_headers`)."""
    model_id = uuid.uuid5(uuid.NAMESPACE_URL, deployment).hex * 2
    headers = {
        "content-type": "text/event-stream" if streaming else "application/json",
        "x-litellm-call-id": str(uuid.uuid4()),
        "x-litellm-model-id": model_id,
        "x-litellm-model-name": deployment,
        "x-litellm-model-api-base": "https://api.anthropic.com/v1/messages" if deployment.startswith("anthropic/")
        else "https://api.openai.com",
        "x-litellm-version": "1.110.2",
        "x-litellm-response-cost": "0.00042",
        "x-litellm-key-tpm-limit": "None",
        "x-litellm-key-rpm-limit": "None",
        "x-litellm-key-max-budget": "None",
        "x-litellm-key-spend": "0.0",
        "x-litellm-response-duration-ms": "812.4",
        "x-litellm-overhead-duration-ms": "4.1",
        "x-litellm-callback-duration-ms": "0.2",
        "x-litellm-model-group": group,
        "x-litellm-attempted-retries": "0",
        "x-litellm-attempted-fallbacks": str(fallbacks),
        "llm_provider-content-type": "application/json",
        "llm_provider-request-id": "req_011CUpstream",
    }
    if errors is not None:
        headers["x-litellm-fallback-errors"] = json.dumps(errors)
    return headers


PRIMARY_ERROR = [{"message": "litellm.ServiceUnavailableError: OpenAIException - gpt-4o is overloaded for acct 42",
                  "type": "None", "param": None, "code": "503"}]


def openrouter_body(model: str, provider: str, text: str) -> dict:
    """An OpenRouter chat completion: the served `model` with its vendor prefix, and the upstream `provider`."""
    created = int(time.time())
    return {
        "id": f"gen-{created}-Xk3pQ9vLmN2sTtUw",
        "provider": provider,
        "model": model,
        "object": "chat.completion",
        "created": created,
        "choices": [{"logprobs": None, "finish_reason": "stop", "native_finish_reason": "end_turn", "index": 0,
                     "message": {"role": "assistant", "content": text, "refusal": None, "reasoning": None}}],
        "usage": {"prompt_tokens": 31, "completion_tokens": 40, "total_tokens": 71},
    }


def openrouter_stream(model: str, provider: str, text: str) -> bytes:
    """OpenRouter's SSE: a keep-alive comment first, then chunks that carry `provider` too."""
    created = int(time.time())
    base = {"id": f"gen-{created}-Xk3pQ9vLmN2sTtUw", "provider": provider, "model": model,
            "object": "chat.completion.chunk", "created": created}
    pieces = [text[i:i + 12] for i in range(0, len(text), 12)]
    events = [": OPENROUTER PROCESSING\n\n"]
    for n, piece in enumerate(pieces):
        delta = {"role": "assistant", "content": piece} if n == 0 else {"content": piece}
        events.append("data: " + json.dumps({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None,
                                                                   "native_finish_reason": None,
                                                                   "logprobs": None}]}) + "\n\n")
    events.append("data: " + json.dumps({**base, "choices": [{"index": 0, "delta": {"content": ""},
                                                               "finish_reason": "stop",
                                                               "native_finish_reason": "end_turn", "logprobs": None}],
                                         "usage": {"prompt_tokens": 31, "completion_tokens": 40,
                                                   "total_tokens": 71}}) + "\n\n")
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


class Gateway:
    """Answers each request with what `respond(request_json, path)` gives: (headers, body bytes)."""

    def __init__(self, respond) -> None:
        self.respond = respond
        self.requests: list[dict] = []

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.read() or b"{}")
        self.requests.append(body)
        headers, content = self.respond(body, request.url.path)
        return httpx2.Response(200, headers=headers, content=content)

    def clients(self) -> tuple[openai.OpenAI, openai.AsyncOpenAI]:
        transport = httpx2.MockTransport(self._handle)
        return (openai.OpenAI(api_key="sk-litellm-virtual-key", base_url=BASE_URL, max_retries=0,
                              http_client=httpx2.Client(transport=transport)),
                openai.AsyncOpenAI(api_key="sk-litellm-virtual-key", base_url=BASE_URL, max_retries=0,
                                   http_client=httpx2.AsyncClient(transport=transport)))


def only_span(telemetry):
    spans = telemetry.llm_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


# ---- the LiteLLM proxy ----

def proxy_that_fell_back(errors: list[dict] | None = None) -> Gateway:
    """`gpt-4o` failed on the proxy; its `claude-backup` group answered (the body keeps the served model)."""

    def respond(request: dict, path: str) -> tuple[dict, bytes]:
        headers = litellm_proxy_headers(group="claude-backup", deployment="anthropic/claude-3-5-sonnet-20240620",
                                        fallbacks=1, errors=errors, streaming=bool(request.get("stream")))
        if request.get("stream"):
            return headers, chat_stream_body("claude-3-5-sonnet-20240620", MARKDOWN)
        return headers, json.dumps(chat_body("claude-3-5-sonnet-20240620", MARKDOWN)).encode()

    return Gateway(respond)


def test_litellm_proxy_fallback_from_headers(telemetry):
    client, _ = proxy_that_fell_back(PRIMARY_ERROR).clients()
    result = client.chat.completions.create(model="gpt-4o", messages=messages())
    assert isinstance(result, openai.types.chat.ChatCompletion)
    a = only_span(telemetry).attributes
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o"
    assert a["gen_ai.response.model"] == "claude-3-5-sonnet-20240620"
    assert a["llm_drift.serving.model"] == "anthropic/claude-3-5-sonnet-20240620"  # x-litellm-model-name
    assert a["llm_drift.fallback.active"] is True
    assert a["llm_drift.fallback.source"] == "gateway"
    assert a["llm_drift.fallback.primary"] == "gpt-4o"
    assert a["llm_drift.fallback.reason"] == "ServiceUnavailableError"
    assert a["llm_drift.shape.kind"] == "markdown"
    assert telemetry.counter_total("llm_drift.fallbacks", **{"llm_drift.fallback.source": "gateway"}) == 1
    exported = repr([dict(s.attributes) for s in telemetry.spans.get_finished_spans()])
    assert "acct 42" not in exported  # the primary's error text never leaves


def test_litellm_proxy_without_fallback_names_the_deployment(telemetry):
    def respond(request: dict, path: str) -> tuple[dict, bytes]:
        # the proxy stamps the requested group name back into `model`; the header names the deployment
        headers = litellm_proxy_headers(group="gpt-4o", deployment="openai/gpt-4o", fallbacks=0)
        return headers, json.dumps(chat_body("gpt-4o", JSON_CARD)).encode()

    client, _ = Gateway(respond).clients()
    client.chat.completions.create(model="gpt-4o", messages=messages())
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == "openai/gpt-4o"
    assert a["llm_drift.fallback.active"] is False
    assert a["llm_drift.model.substituted"] is False
    assert "llm_drift.fallback.source" not in a


def test_litellm_proxy_fallback_without_error_report_has_no_reason(telemetry):
    client, _ = proxy_that_fell_back().clients()
    client.chat.completions.create(model="gpt-4o", messages=messages())
    a = only_span(telemetry).attributes
    assert a["llm_drift.fallback.source"] == "gateway"
    assert "llm_drift.fallback.reason" not in a


def test_litellm_proxy_stream_sync_and_async(telemetry):
    client, aclient = proxy_that_fell_back().clients()
    text = "".join(c.choices[0].delta.content or "" for c in
                   client.chat.completions.create(model="gpt-4o", messages=messages(), stream=True) if c.choices)
    assert text == MARKDOWN

    async def read_async() -> None:
        stream = await aclient.chat.completions.create(model="gpt-4o", messages=messages(), stream=True)
        async for _ in stream:
            pass

    asyncio.run(read_async())
    spans = telemetry.llm_spans()
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["llm_drift.fallback.source"] == "gateway"
        assert span.attributes["llm_drift.serving.model"] == "anthropic/claude-3-5-sonnet-20240620"
        assert span.attributes["llm_drift.shape.kind"] == "markdown"


def test_litellm_proxy_raw_response_and_responses_api(telemetry):
    def respond(request: dict, path: str) -> tuple[dict, bytes]:
        headers = litellm_proxy_headers(group="claude-backup", deployment="anthropic/claude-3-5-sonnet-20240620",
                                        fallbacks=1)
        if path.endswith("/responses"):
            return headers, json.dumps(responses_body("claude-3-5-sonnet-20240620", MARKDOWN)).encode()
        return headers, json.dumps(chat_body("claude-3-5-sonnet-20240620", MARKDOWN)).encode()

    client, _ = Gateway(respond).clients()
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages())
    assert raw.headers["x-litellm-attempted-fallbacks"] == "1"
    client.responses.create(model="gpt-4o", instructions="Answer as a JSON card.", input="hi")
    for span in telemetry.llm_spans():
        assert span.attributes["llm_drift.fallback.source"] == "gateway"
        assert span.attributes["llm_drift.serving.model"] == "anthropic/claude-3-5-sonnet-20240620"


def test_headers_of_one_call_never_leak_into_the_next(telemetry):
    fell_back, _ = proxy_that_fell_back().clients()
    plain = openai.OpenAI(api_key="k", base_url=BASE_URL, max_retries=0,
                          http_client=httpx2.Client(transport=MockProvider().transport()))
    fell_back.chat.completions.create(model="gpt-4o", messages=messages())
    plain.chat.completions.create(model="gpt-4o", messages=messages())
    first, second = telemetry.llm_spans()
    assert first.attributes["llm_drift.fallback.active"] is True
    assert second.attributes["llm_drift.fallback.active"] is False
    assert second.attributes["llm_drift.serving.model"] == "gpt-4o-2024-08-06"


async def test_concurrent_calls_each_read_their_own_headers(telemetry):
    _, via_proxy = proxy_that_fell_back().clients()
    direct = openai.AsyncOpenAI(api_key="k", base_url=BASE_URL, max_retries=0,
                                http_client=httpx2.AsyncClient(transport=MockProvider().transport()))
    calls = [via_proxy.chat.completions.create(model="gpt-4o", messages=messages()) if i % 2 else
             direct.chat.completions.create(model="gpt-4o", messages=messages()) for i in range(10)]
    await asyncio.gather(*calls)
    spans = telemetry.llm_spans()
    assert len(spans) == 10
    by_fallback = {True: 0, False: 0}
    for span in spans:
        fell_back = span.attributes["llm_drift.fallback.active"]
        by_fallback[fell_back] += 1
        expected = "anthropic/claude-3-5-sonnet-20240620" if fell_back else "gpt-4o-2024-08-06"
        assert span.attributes["llm_drift.serving.model"] == expected
    assert by_fallback == {True: 5, False: 5}


def test_a_failed_call_through_the_proxy_then_chain(telemetry):
    """Headers-driven gateway fallback and the app's own chain do not mix up: a 503 leaves no headers behind."""
    failing = MockProvider(failing={"gpt-4o"})
    client = openai.OpenAI(api_key="k", base_url=BASE_URL, max_retries=0,
                           http_client=httpx2.Client(transport=failing.transport()))
    with ld.request():
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-4o", messages=messages())
        client.chat.completions.create(model="gpt-4o-mini", messages=messages())
    a = telemetry.llm_spans()[1].attributes
    assert a["llm_drift.fallback.source"] == "chain"
    assert a["llm_drift.fallback.primary"] == "openai/gpt-4o"


# ---- OpenRouter ----

def openrouter(served: str, provider: str) -> Gateway:
    def respond(request: dict, path: str) -> tuple[dict, bytes]:
        if request.get("stream"):
            return {"content-type": "text/event-stream"}, openrouter_stream(served, provider, MARKDOWN)
        return {"content-type": "application/json"}, json.dumps(openrouter_body(served, provider, MARKDOWN)).encode()

    return Gateway(respond)


def test_openrouter_model_fallback_listed_in_models(telemetry):
    gateway = openrouter("anthropic/claude-3.5-sonnet", "Anthropic")
    client, _ = gateway.clients()
    result = client.chat.completions.create(model="openai/gpt-4o", messages=messages(),
                                            extra_body={"models": ["anthropic/claude-3.5-sonnet"]})
    assert result.model == "anthropic/claude-3.5-sonnet"
    assert gateway.requests[0]["models"] == ["anthropic/claude-3.5-sonnet"]
    a = only_span(telemetry).attributes
    assert a["gen_ai.response.model"] == "anthropic/claude-3.5-sonnet"
    assert a["llm_drift.serving.model"] == "anthropic/claude-3.5-sonnet"  # the vendor prefix is kept
    assert a["llm_drift.fallback.active"] is True
    assert a["llm_drift.fallback.source"] == "gateway"
    assert a["llm_drift.fallback.primary"] == "openai/gpt-4o"
    assert a["llm_drift.shape.kind"] == "markdown"


def test_openrouter_route_fallback_streamed(telemetry):
    client, aclient = openrouter("anthropic/claude-3.5-sonnet", "Anthropic").clients()
    chunks = list(client.chat.completions.create(model="openai/gpt-4o", messages=messages(), stream=True,
                                                 extra_body={"route": "fallback"}))
    assert chunks[0].model == "anthropic/claude-3.5-sonnet"

    async def read_async() -> None:
        stream = await aclient.chat.completions.create(model="openai/gpt-4o", messages=messages(), stream=True,
                                                       extra_body={"models": ["anthropic/claude-3.5-sonnet"]})
        async for _ in stream:
            pass

    asyncio.run(read_async())
    for span in telemetry.llm_spans():
        a = span.attributes
        assert a["llm_drift.fallback.source"] == "gateway"
        assert a["llm_drift.fallback.primary"] == "openai/gpt-4o"
        assert a["llm_drift.serving.model"] == "anthropic/claude-3.5-sonnet"
        assert a["llm_drift.shape.kind"] == "markdown"


def test_openrouter_primary_served_is_not_fallback(telemetry):
    client, _ = openrouter("openai/gpt-4o", "OpenAI").clients()
    client.chat.completions.create(model="openai/gpt-4o", messages=messages(),
                                   extra_body={"models": ["anthropic/claude-3.5-sonnet"]})
    a = only_span(telemetry).attributes
    assert a["llm_drift.fallback.active"] is False
    assert a["llm_drift.serving.model"] == "openai/gpt-4o"


def test_openrouter_other_model_without_listed_fallbacks_is_a_substitution(telemetry):
    client, _ = openrouter("anthropic/claude-3.5-sonnet", "Anthropic").clients()
    client.chat.completions.create(model="openai/gpt-4o", messages=messages())
    a = only_span(telemetry).attributes
    assert a["llm_drift.fallback.active"] is False
    assert a["llm_drift.model.substituted"] is True
    assert a["llm_drift.serving.model"] == "anthropic/claude-3.5-sonnet"
