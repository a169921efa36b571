"""The LiteLLM adapter end to end: real `litellm` calls and Routers, no network.

Deployments point at `MockProvider.serve()` (a real OpenAI-compatible HTTP server on 127.0.0.1, where a
model can be made to fail with 503) or use LiteLLM's own `mock_response` / `mock_testing_fallbacks`.
"""

from __future__ import annotations

import gc
import json
import os
import re

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the price map at import

import litellm  # noqa: E402
import pytest  # noqa: E402

import llm_drift_otel as ld  # noqa: E402
from llm_drift_otel._mock_provider import MockProvider, chat_body  # noqa: E402

SYSTEM = "You are the support assistant. Answer with one JSON card: title, summary, actions, confidence."
KEY = "sk-test-not-a-key"
STYLES = {"gpt-4o": "json_card", "fallback-model": "markdown_bullets"}
LOOKUP_CALL = {"id": "call_1", "type": "function",
               "function": {"name": "lookup_order", "arguments": json.dumps({"order_id": "A1"})}}


def messages(user: str = "Where is my order?") -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


class ToolCallingProvider(MockProvider):
    """`tool-model` answers with a tool call, as the OpenAI API sends it; other models as MockProvider does."""

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if json.loads(body or b"{}").get("model") == "tool-model":
            answer = chat_body("tool-model", "", tool_calls=[LOOKUP_CALL])
            return 200, {"content-type": "application/json"}, json.dumps(answer).encode()
        return super().handle(method, path, body)


@pytest.fixture
def provider():
    return ToolCallingProvider(styles=dict(STYLES), seed=7)


@pytest.fixture
def server(provider):
    running = provider.serve()
    yield running
    running.stop()


def only_span(telemetry):
    spans = telemetry.llm_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def router(server, **options) -> litellm.Router:
    """`primary` (gpt-4o) falls back to `backup` (fallback-model), both on the local server."""
    model_list = [
        {"model_name": "primary", "litellm_params": {"model": "openai/gpt-4o", "api_key": KEY,
                                                     "api_base": server.base_url}},
        {"model_name": "backup", "litellm_params": {"model": "openai/fallback-model", "api_key": KEY,
                                                    "api_base": server.base_url}},
    ]
    return litellm.Router(model_list=model_list, fallbacks=[{"primary": ["backup"]}], num_retries=0, **options)


# ---- litellm.completion / acompletion ----

def test_completion_span_carries_provider_serving_model_variant_and_shape(telemetry, server):
    result = litellm.completion(model="openai/gpt-4o", messages=messages(), api_base=server.base_url, api_key=KEY)
    assert isinstance(result, litellm.ModelResponse)
    span = only_span(telemetry)
    a = span.attributes
    assert span.name == "chat openai/gpt-4o"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "openai/gpt-4o"
    assert a["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert a["llm_drift.serving.model"] == "openai/gpt-4o-2024-08-06"  # the vendor prefix is kept
    assert a["llm_drift.model.substituted"] is False
    assert re.fullmatch(r"sys-[0-9a-f]{12}", a["llm_drift.prompt.variant"])
    assert a["llm_drift.shape.kind"] == "json"
    assert re.fullmatch(r"[0-9a-f]{16}", a["llm_drift.shape.id"])
    assert a["llm_drift.fallback.active"] is False
    assert a["gen_ai.usage.input_tokens"] == 42
    assert a["server.address"] == "127.0.0.1"
    assert telemetry.counter_total("llm_drift.responses") == 1


def test_provider_is_the_one_litellm_resolves(telemetry):
    litellm.completion(model="anthropic/claude-3-5-sonnet-20240620", messages=messages(), api_key=KEY,
                       mock_response="## Order\n\n- shipped\n- arriving Monday\n\n**Note:** tracking sent.")
    litellm.completion(model="gpt-4o-mini", messages=messages(), api_key=KEY, mock_response="Plain prose.")
    claude, mini = telemetry.llm_spans()
    assert claude.attributes["gen_ai.provider.name"] == "anthropic"
    assert claude.attributes["llm_drift.serving.model"] == "anthropic/claude-3-5-sonnet-20240620"
    assert claude.attributes["llm_drift.shape.kind"] == "markdown"
    assert mini.attributes["gen_ai.provider.name"] == "openai"  # a bare model name LiteLLM knows
    assert mini.attributes["llm_drift.serving.model"] == "openai/gpt-4o-mini"


def test_tool_call_answer(telemetry, server):
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}]
    result = litellm.completion(model="openai/tool-model", messages=messages(), tools=tools,
                                api_base=server.base_url, api_key=KEY)
    assert result.choices[0].message.tool_calls[0].function.name == "lookup_order"
    a = only_span(telemetry).attributes
    assert a["llm_drift.shape.kind"] == "tool_call"
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)


async def test_acompletion(telemetry, server):
    result = await litellm.acompletion(model="openai/fallback-model", messages=messages(), api_base=server.base_url,
                                       api_key=KEY)
    assert isinstance(result, litellm.ModelResponse)
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == "openai/fallback-model"
    assert a["llm_drift.shape.kind"] == "markdown"


def test_variant_name_and_explicit_fallback(telemetry, server):
    with ld.prompt_variant("support-card-v3", tuned_for=["gpt-4o"]):
        with ld.fallback(primary="openai/gpt-4o", reason="RateLimitError"):
            litellm.completion(model="openai/fallback-model", messages=messages(), api_base=server.base_url,
                               api_key=KEY)
    a = only_span(telemetry).attributes
    assert a["llm_drift.prompt.variant"] == "support-card-v3"
    assert a["llm_drift.prompt.mismatch"] is True
    assert (a["llm_drift.fallback.source"], a["llm_drift.fallback.primary"], a["llm_drift.fallback.reason"]) == (
        "explicit", "openai/gpt-4o", "RateLimitError")


def test_error_is_reraised_unchanged_and_recorded(telemetry, provider, server):
    provider.failing.add("gpt-4o")
    with pytest.raises(litellm.ServiceUnavailableError) as info:
        litellm.completion(model="openai/gpt-4o", messages=messages(), api_base=server.base_url, api_key=KEY,
                           num_retries=0)
    assert info.value.status_code == 503
    span = only_span(telemetry)
    assert span.attributes["error.type"] == "ServiceUnavailableError"
    assert span.status.status_code.name == "ERROR"


def test_chain_fallback_between_litellm_calls(telemetry, provider, server):
    provider.failing.add("gpt-4o")
    provider.fail_status = 429
    with ld.request():
        try:
            litellm.completion(model="openai/gpt-4o", messages=messages(), api_base=server.base_url, api_key=KEY,
                               num_retries=0)
        except litellm.RateLimitError:
            litellm.completion(model="openai/fallback-model", messages=messages(), api_base=server.base_url,
                               api_key=KEY)
    failed, served = telemetry.llm_spans()
    assert failed.attributes["error.type"] == "RateLimitError"
    a = served.attributes
    assert (a["llm_drift.fallback.source"], a["llm_drift.fallback.primary"], a["llm_drift.fallback.reason"]) == (
        "chain", "openai/gpt-4o", "RateLimitError")


def test_completion_with_its_own_fallbacks_list_is_gateway_fallback(telemetry, provider, server):
    provider.failing.add("gpt-4o")
    result = litellm.completion(model="openai/gpt-4o", messages=messages(), api_base=server.base_url, api_key=KEY,
                                fallbacks=["openai/fallback-model"], num_retries=0)
    assert result.model == "fallback-model"
    a = only_span(telemetry).attributes  # the attempts inside are LiteLLM's: one span
    assert (a["llm_drift.fallback.source"], a["llm_drift.fallback.primary"]) == ("gateway", "openai/gpt-4o")
    assert a["llm_drift.serving.model"] == "openai/fallback-model"


def test_result_is_what_litellm_returns_uninstrumented(telemetry, provider, server):
    provider._rng.seed(3)
    instrumented = litellm.completion(model="openai/gpt-4o", messages=messages(), api_base=server.base_url,
                                      api_key=KEY)
    ld.uninstrument()
    provider._rng.seed(3)
    bare = litellm.completion(model="openai/gpt-4o", messages=messages(), api_base=server.base_url, api_key=KEY)
    assert type(instrumented) is type(bare)
    assert instrumented.choices[0].message.content == bare.choices[0].message.content
    assert instrumented.model == bare.model


def test_uninstrument_puts_the_original_functions_back(telemetry):
    assert hasattr(litellm.completion, "__wrapped__") and type(litellm.completion).__name__ == "FunctionWrapper"
    ld.uninstrument()
    for name in ("completion", "acompletion"):
        assert type(getattr(litellm, name)).__name__ == "function"
    litellm.completion(model="openai/gpt-4o", messages=messages(), api_key=KEY, mock_response="ok")
    assert telemetry.llm_spans() == []


# ---- streams ----

def test_stream_keeps_litellm_type_and_ends_span_on_exhaustion(telemetry, server):
    stream = litellm.completion(model="openai/gpt-4o", messages=messages(), api_base=server.base_url, api_key=KEY,
                                stream=True, stream_options={"include_usage": True})
    assert isinstance(stream, litellm.CustomStreamWrapper)
    assert telemetry.llm_spans() == []  # open while the app reads
    text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
    assert text.startswith("{")
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == "openai/gpt-4o-2024-08-06"
    assert a["llm_drift.shape.kind"] == "json"
    assert a["gen_ai.usage.output_tokens"] > 0


@pytest.mark.parametrize("how", ["break_then_close", "with_exit", "gc_unread"])
def test_stream_span_ends_once_however_the_app_leaves(telemetry, server, how):
    stream = litellm.completion(model="openai/gpt-4o", messages=messages(), api_base=server.base_url, api_key=KEY,
                                stream=True)
    if how == "break_then_close":
        for _ in stream:
            break
        stream.close()
    elif how == "with_exit":
        with stream as s:
            assert isinstance(s, litellm.CustomStreamWrapper)
            next(iter(s))
    del stream
    gc.collect()
    span = only_span(telemetry)
    assert span.end_time is not None
    assert "llm_drift.shape.kind" not in span.attributes  # a partial answer is not judged


async def test_async_stream_full_and_closed_early(telemetry, server):
    stream = await litellm.acompletion(model="openai/gpt-4o", messages=messages(), api_base=server.base_url,
                                       api_key=KEY, stream=True)
    assert isinstance(stream, litellm.CustomStreamWrapper)
    async for _ in stream:
        pass
    early = await litellm.acompletion(model="openai/gpt-4o", messages=messages(), api_base=server.base_url,
                                      api_key=KEY, stream=True)
    async for _ in early:
        break
    await early.aclose()
    full, closed = telemetry.llm_spans()  # ended by aclose(), not left to garbage collection
    assert full.attributes["llm_drift.shape.kind"] == "json"
    assert closed.end_time is not None and "llm_drift.shape.kind" not in closed.attributes


async def test_async_stream_sync_close_still_closes_the_stream(telemetry, server):
    """LiteLLM's streams close with a plain `close()` (and `aclose()`): the proxy must not turn it into a coroutine."""
    stream = await litellm.acompletion(model="openai/gpt-4o", messages=messages(), api_base=server.base_url,
                                       api_key=KEY, stream=True)
    async for _ in stream:
        break
    assert stream.close() is None
    assert stream.completion_stream is None  # LiteLLM's own close ran
    assert only_span(telemetry).end_time is not None


# ---- Router ----

def test_router_primary_failing_yields_gateway_fallback_with_served_model(telemetry, provider, server):
    """Acceptance: the primary deployment fails (503 from the server); the span says source=gateway."""
    provider.failing.add("gpt-4o")
    result = router(server).completion(model="primary", messages=messages())
    assert isinstance(result, litellm.ModelResponse)
    assert result._hidden_params["additional_headers"]["x-litellm-attempted-fallbacks"] == 1
    span = only_span(telemetry)  # the deployment attempts inside are the Router's: no span of their own
    a = span.attributes
    assert span.name == "chat openai/gpt-4o"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "openai/gpt-4o"  # the group's primary deployment
    assert a["llm_drift.serving.model"] == "openai/fallback-model"
    assert a["llm_drift.fallback.active"] is True
    assert a["llm_drift.fallback.source"] == "gateway"
    assert a["llm_drift.fallback.primary"] == "openai/gpt-4o"
    assert a["llm_drift.shape.kind"] == "markdown"
    assert telemetry.counter_total("llm_drift.responses") == 1
    assert telemetry.counter_total("llm_drift.fallbacks", **{"llm_drift.fallback.source": "gateway",
                                                             "llm_drift.serving.model": "openai/fallback-model"}) == 1


async def test_router_acompletion_reports_the_primary_error_class_only(telemetry, provider, server):
    provider.failing.add("gpt-4o")
    result = await router(server).acompletion(model="primary", messages=messages(), include_fallback_errors=True)
    assert "x-litellm-fallback-errors" in result._hidden_params["additional_headers"]
    a = only_span(telemetry).attributes
    assert a["llm_drift.fallback.source"] == "gateway"
    assert a["llm_drift.fallback.reason"] == "ServiceUnavailableError"
    exported = repr([dict(s.attributes) for s in telemetry.spans.get_finished_spans()])
    assert "is unavailable" not in exported  # the error message text stays out


def test_router_healthy_primary_is_not_fallback(telemetry, server):
    router(server).completion(model="primary", messages=messages())
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == "openai/gpt-4o-2024-08-06"
    assert a["llm_drift.fallback.active"] is False
    assert a["llm_drift.model.substituted"] is False
    assert a["llm_drift.shape.kind"] == "json"


def test_router_stream_fallback_is_read_from_the_serving_deployment(telemetry, provider, server):
    provider.failing.add("gpt-4o")
    stream = router(server).completion(model="primary", messages=messages(), stream=True)
    assert isinstance(stream, litellm.CustomStreamWrapper)
    text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
    assert text.startswith("## ")
    a = only_span(telemetry).attributes
    assert a["llm_drift.fallback.source"] == "gateway"
    assert a["llm_drift.fallback.primary"] == "openai/gpt-4o"
    assert a["llm_drift.serving.model"] == "openai/fallback-model"
    assert a["llm_drift.shape.kind"] == "markdown"


async def test_router_async_stream_fallback(telemetry, provider, server):
    provider.failing.add("gpt-4o")
    stream = await router(server).acompletion(model="primary", messages=messages(), stream=True)
    async for _ in stream:
        pass
    a = only_span(telemetry).attributes
    assert a["llm_drift.fallback.source"] == "gateway"
    assert a["llm_drift.serving.model"] == "openai/fallback-model"


def test_router_with_litellm_fault_injection_across_vendors(telemetry):
    """No server: the primary deployment's mock raises, the Anthropic backup's mock answers."""
    model_list = [
        {"model_name": "primary", "litellm_params": {"model": "openai/gpt-4o", "api_key": KEY,
                                                     "mock_response": Exception("overloaded")}},
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-3-5-sonnet-20240620", "api_key": KEY,
                                                    "mock_response": "## Order\n\n- shipped\n- late"}},
    ]
    r = litellm.Router(model_list=model_list, fallbacks=[{"primary": ["claude"]}], num_retries=0)
    r.completion(model="primary", messages=messages())
    a = only_span(telemetry).attributes
    assert a["gen_ai.provider.name"] == "openai"
    assert a["llm_drift.fallback.source"] == "gateway"
    assert a["llm_drift.fallback.primary"] == "openai/gpt-4o"
    assert a["llm_drift.serving.model"] == "anthropic/claude-3-5-sonnet-20240620"
    assert a["llm_drift.model.substituted"] is True


def test_router_mock_testing_fallbacks(telemetry, server):
    router(server).completion(model="primary", messages=messages(), mock_testing_fallbacks=True)
    a = only_span(telemetry).attributes
    assert a["llm_drift.fallback.source"] == "gateway"
    assert a["llm_drift.serving.model"] == "openai/fallback-model"


def test_router_fallback_traffic_never_teaches_the_baseline(telemetry, provider, server):
    r = router(server)
    for _ in range(5):  # warmup=5 in the fixture
        r.completion(model="primary", messages=messages())
    provider.failing.add("gpt-4o")
    for _ in range(3):
        r.completion(model="primary", messages=messages())
    spans = telemetry.llm_spans()
    assert len(spans) == 8
    for s in spans[5:]:
        assert s.attributes["llm_drift.fallback.active"] is True
        assert s.attributes["llm_drift.shape.drifted"] is True
        assert s.attributes["llm_drift.baseline.samples"] == 5
