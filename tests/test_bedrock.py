"""The Bedrock adapter end to end: real boto3/botocore against a local Bedrock Runtime on 127.0.0.1
(real JSON bodies, real AWS event-stream framing), spans and metrics as exported."""

from __future__ import annotations

import gc
import json
import re

import pytest
from botocore.eventstream import EventStream
from botocore.exceptions import ClientError, EventStreamError
from botocore.response import StreamingBody

import llm_drift_otel as ld
from bedrock_bodies import CLAUDE, CLAUDE_US, LLAMA, MISTRAL, ROUTED, ROUTER, SYSTEM, BedrockMock

@pytest.fixture
def bedrock():
    mock = BedrockMock()
    running = mock.serve()
    mock.client = running.client
    yield mock
    running.stop()


def only_span(telemetry):
    spans = telemetry.llm_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def user(text: str = "Where is my order?") -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def converse(client, model=CLAUDE, **extra):
    return client.converse(modelId=model, system=[{"text": SYSTEM}], messages=user(), **extra)


def anthropic_request(system: str = SYSTEM) -> str:
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 512,
                       "system": [{"type": "text", "text": system}],
                       "messages": [{"role": "user", "content": [{"type": "text", "text": "Where is my order?"}]}]})


def llama_request(system: str = SYSTEM) -> str:
    prompt = (f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nWhere is my order?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n")
    return json.dumps({"prompt": prompt, "max_gen_len": 512, "temperature": 0.2})


# ---- Converse ----

def test_converse_span_carries_requested_model_variant_shape_and_usage(telemetry, bedrock):
    client = bedrock.client()
    result = converse(client)
    assert isinstance(result, dict) and result["stopReason"] == "end_turn"
    span = only_span(telemetry)
    a = span.attributes
    assert span.name == f"chat {CLAUDE}"
    assert span.kind.name == "CLIENT"
    assert a["gen_ai.provider.name"] == "aws.bedrock"
    assert a["gen_ai.request.model"] == CLAUDE
    assert a["llm_drift.serving.model"] == CLAUDE  # Converse names no model: the requested one served
    assert "gen_ai.response.model" not in a
    assert a["llm_drift.model.substituted"] is False
    assert re.fullmatch(r"sys-[0-9a-f]{12}", a["llm_drift.prompt.variant"])
    assert a["llm_drift.shape.kind"] == "json"
    assert re.fullmatch(r"[0-9a-f]{16}", a["llm_drift.shape.id"])
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["gen_ai.usage.input_tokens"] == 42
    assert a["gen_ai.usage.output_tokens"] == result["usage"]["outputTokens"]
    assert a["server.address"] == "127.0.0.1"
    assert a["llm_drift.fallback.active"] is False


def test_converse_result_is_what_botocore_returns_uninstrumented(telemetry, bedrock):
    client = bedrock.client()
    bedrock.provider._rng.seed(3)
    instrumented = converse(client)
    ld.uninstrument()
    bedrock.provider._rng.seed(3)
    bare = converse(client)
    for r in (instrumented, bare):
        r.pop("ResponseMetadata")
    assert instrumented == bare


def test_cross_region_profile_id_is_kept_as_given(telemetry, bedrock):
    converse(bedrock.client(), model=CLAUDE_US)
    a = only_span(telemetry).attributes
    assert a["gen_ai.request.model"] == CLAUDE_US
    assert a["llm_drift.serving.model"] == CLAUDE_US


def test_converse_tool_use_is_a_tool_call_shape(telemetry, bedrock):
    bedrock.tool_models.add(CLAUDE)
    tools = {"tools": [{"toolSpec": {"name": "get_order_status", "description": "Order status",
                                     "inputSchema": {"json": {"type": "object"}}}}]}
    result = converse(bedrock.client(), toolConfig=tools)
    assert result["output"]["message"]["content"][0]["toolUse"]["name"] == "get_order_status"
    a = only_span(telemetry).attributes
    assert a["llm_drift.shape.kind"] == "tool_call"
    assert a["gen_ai.response.finish_reasons"] == ("tool_use",)


def test_guardrail_intervention_is_a_refusal(telemetry, bedrock):
    bedrock.guardrail_models.add(CLAUDE)
    converse(bedrock.client())
    a = only_span(telemetry).attributes
    assert a["llm_drift.shape.refusal"] is True
    assert a["llm_drift.shape.kind"] == "refusal"


def test_prompt_router_trace_names_the_serving_model(telemetry, bedrock):
    converse(bedrock.client(), model=ROUTER)
    a = only_span(telemetry).attributes
    assert a["gen_ai.request.model"] == ROUTER
    assert a["llm_drift.serving.model"] == ROUTED
    assert a["gen_ai.response.model"] == ROUTED


def test_other_services_and_operations_pass_through_without_a_span(telemetry, bedrock):
    client = bedrock.client()
    with pytest.raises(ClientError):  # our local service has no guardrail route: a 404
        client.apply_guardrail(guardrailIdentifier="g", guardrailVersion="1", source="INPUT",
                               content=[{"text": {"text": "hi"}}])
    with pytest.raises(ClientError):
        bedrock.client("dynamodb").list_tables()
    assert len(bedrock.requests) == 2  # both reached the service
    assert telemetry.llm_spans() == []


def test_throttling_is_reraised_unchanged_and_recorded(telemetry, bedrock):
    bedrock.failing.add(CLAUDE)
    bedrock.provider.fail_status = 429
    client = bedrock.client()
    with pytest.raises(client.exceptions.ThrottlingException) as info:
        converse(client)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    span = only_span(telemetry)
    assert span.attributes["error.type"] == "ThrottlingException"
    assert span.status.status_code.name == "ERROR"


def test_chain_fallback_from_claude_to_llama_inside_request(telemetry, bedrock):
    bedrock.failing.add(CLAUDE)
    client = bedrock.client()
    with ld.request():
        try:
            converse(client)
        except client.exceptions.ServiceUnavailableException:
            converse(client, model=LLAMA)
    failed, served = telemetry.llm_spans()
    assert failed.attributes["error.type"] == "ServiceUnavailableException"
    a = served.attributes
    assert a["llm_drift.fallback.active"] is True
    assert a["llm_drift.fallback.source"] == "chain"
    assert a["llm_drift.fallback.primary"] == f"aws.bedrock/{CLAUDE}"
    assert a["llm_drift.fallback.reason"] == "ServiceUnavailableException"
    assert a["llm_drift.fallback.attempt"] == 1
    assert a["llm_drift.serving.model"] == LLAMA
    assert a["llm_drift.shape.kind"] == "markdown"
    assert telemetry.counter_total("llm_drift.fallbacks", **{"llm_drift.fallback.source": "chain"}) == 1


def test_explicit_fallback_named_variant_and_drift(telemetry, bedrock):
    client = bedrock.client()
    with ld.prompt_variant("support-card-v3", tuned_for=[CLAUDE]):
        for _ in range(5):  # warmup=5 in the fixture
            converse(client)
        with ld.fallback(primary="openai/gpt-4o", reason="RateLimitError"):
            converse(client, model=LLAMA)
    a = telemetry.llm_spans()[-1].attributes
    assert a["llm_drift.prompt.variant"] == "support-card-v3"
    assert a["llm_drift.prompt.mismatch"] is True
    assert (a["llm_drift.fallback.source"], a["llm_drift.fallback.primary"], a["llm_drift.fallback.reason"]) == (
        "explicit", "openai/gpt-4o", "RateLimitError")
    assert a["llm_drift.shape.drifted"] is True
    assert telemetry.counter_total("llm_drift.responses", **{"gen_ai.provider.name": "aws.bedrock"}) == 6


# ---- InvokeModel ----

def test_invoke_model_anthropic_body_is_read_and_left_intact_for_the_app(telemetry, bedrock):
    client = bedrock.client()
    result = client.invoke_model(modelId=CLAUDE, body=anthropic_request())
    assert isinstance(result["body"], StreamingBody)
    payload = json.loads(result["body"].read())  # the app reads the body as it always did
    assert payload["content"][0]["text"].startswith("{")
    a = only_span(telemetry).attributes
    assert a["gen_ai.request.model"] == CLAUDE
    assert a["gen_ai.response.model"] == "claude-3-5-sonnet-20240620"
    assert a["llm_drift.serving.model"] == "claude-3-5-sonnet-20240620"
    assert a["llm_drift.model.substituted"] is False
    assert a["gen_ai.response.id"] == payload["id"]
    assert a["llm_drift.shape.kind"] == "json"
    assert a["gen_ai.usage.output_tokens"] == payload["usage"]["output_tokens"]
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)


def test_invoke_model_body_bytes_equal_the_uninstrumented_ones(telemetry, bedrock):
    client = bedrock.client()
    bedrock.provider._rng.seed(9)
    instrumented = client.invoke_model(modelId=CLAUDE, body=anthropic_request())
    lines = list(instrumented["body"].iter_lines())
    ld.uninstrument()
    bedrock.provider._rng.seed(9)
    bare = client.invoke_model(modelId=CLAUDE, body=anthropic_request())
    assert lines == list(bare["body"].iter_lines())
    assert instrumented["contentType"] == bare["contentType"]


def test_invoke_model_system_prompt_gives_the_converse_variant_in_every_family(telemetry, bedrock):
    client = bedrock.client()
    converse(client)
    client.invoke_model(modelId=CLAUDE, body=anthropic_request())
    client.invoke_model(modelId=LLAMA, body=llama_request())
    variants = {s.attributes["llm_drift.prompt.variant"] for s in telemetry.llm_spans()}
    assert len(variants) == 1 and variants.pop().startswith("sys-")


def test_invoke_model_llama_and_mistral_bodies(telemetry, bedrock):
    client = bedrock.client()
    llama = json.loads(client.invoke_model(modelId=LLAMA, body=llama_request())["body"].read())
    client.invoke_model(modelId=MISTRAL, body=json.dumps({"prompt": "<s>[INST] Where is my order? [/INST]",
                                                         "max_tokens": 400}))
    llama_span, mistral_span = telemetry.llm_spans()
    a = llama_span.attributes
    assert a["llm_drift.serving.model"] == LLAMA
    assert a["llm_drift.shape.kind"] == "markdown"
    assert a["gen_ai.usage.input_tokens"] == 42
    assert a["gen_ai.usage.output_tokens"] == llama["generation_token_count"]
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert mistral_span.attributes["llm_drift.shape.kind"] == "markdown"
    assert mistral_span.attributes["llm_drift.prompt.variant"] == "none"


def test_invoke_model_anthropic_tool_use(telemetry, bedrock):
    bedrock.tool_models.add(CLAUDE)
    bedrock.client().invoke_model(modelId=CLAUDE, body=anthropic_request())
    assert only_span(telemetry).attributes["llm_drift.shape.kind"] == "tool_call"


# ---- streams ----

def test_converse_stream_events_are_what_botocore_gives_uninstrumented(telemetry, bedrock):
    client = bedrock.client()
    bedrock.provider._rng.seed(6)
    result = client.converse_stream(modelId=CLAUDE, system=[{"text": SYSTEM}], messages=user())
    assert isinstance(result["stream"], EventStream)
    events = list(result["stream"])
    ld.uninstrument()
    bedrock.provider._rng.seed(6)
    bare = list(client.converse_stream(modelId=CLAUDE, system=[{"text": SYSTEM}], messages=user())["stream"])
    assert events == bare
    span = only_span(telemetry)
    assert span.end_time is not None and "error.type" not in span.attributes
    assert span.attributes["gen_ai.request.model"] == CLAUDE


def test_converse_stream_keeps_event_stream_and_ends_span_with_iteration(telemetry, bedrock):
    client = bedrock.client()
    result = client.converse_stream(modelId=CLAUDE, system=[{"text": SYSTEM}], messages=user())
    stream = result["stream"]
    assert isinstance(stream, EventStream)
    assert telemetry.llm_spans() == []  # open while the app reads
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in stream if "contentBlockDelta" in e)
    assert text.startswith("{")
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == CLAUDE
    assert a["llm_drift.shape.kind"] == "json"
    assert a["llm_drift.prompt.variant"].startswith("sys-")
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["gen_ai.usage.input_tokens"] == 42


def test_converse_stream_shape_equals_converse_shape_of_the_same_text(telemetry, bedrock):
    client = bedrock.client()
    bedrock.provider._rng.seed(4)
    for _ in client.converse_stream(modelId=CLAUDE, system=[{"text": SYSTEM}], messages=user())["stream"]:
        pass
    bedrock.provider._rng.seed(4)
    converse(client)
    streamed, whole = telemetry.llm_spans()
    assert streamed.attributes["llm_drift.shape.id"] == whole.attributes["llm_drift.shape.id"]


def test_converse_stream_tool_use(telemetry, bedrock):
    bedrock.tool_models.add(CLAUDE)
    for _ in bedrock.client().converse_stream(modelId=CLAUDE, messages=user())["stream"]:
        pass
    assert only_span(telemetry).attributes["llm_drift.shape.kind"] == "tool_call"


@pytest.mark.parametrize("how", ["break_then_close", "break_then_del", "consumer_raises", "gc_unread"])
def test_converse_stream_span_ends_exactly_once_on_every_way_out(telemetry, bedrock, how):
    result = bedrock.client().converse_stream(modelId=CLAUDE, messages=user())
    assert telemetry.llm_spans() == []  # open until the app is done with the stream
    if how == "break_then_close":
        for _ in result["stream"]:
            break
        result["stream"].close()
        result["stream"].close()  # twice is harmless, as on the bare EventStream
    elif how == "break_then_del":
        for _ in result["stream"]:
            break
        del result
    elif how == "consumer_raises":
        with pytest.raises(KeyError):
            for _ in result["stream"]:
                raise KeyError("app bug")
        del result
    elif how == "gc_unread":
        del result
    gc.collect()
    span = only_span(telemetry)
    assert span.end_time is not None
    assert "llm_drift.shape.kind" not in span.attributes  # an unfinished stream is not judged
    assert "error.type" not in span.attributes


def test_error_event_mid_stream_is_reraised_and_recorded(telemetry, bedrock):
    bedrock.stream_failures.add(CLAUDE)
    result = bedrock.client().converse_stream(modelId=CLAUDE, messages=user())
    with pytest.raises(EventStreamError):
        for _ in result["stream"]:
            pass
    assert only_span(telemetry).attributes["error.type"] == "EventStreamError"


def test_converse_stream_throttled_before_streaming_is_recorded(telemetry, bedrock):
    bedrock.failing.add(CLAUDE)
    bedrock.provider.fail_status = 429
    client = bedrock.client()
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse_stream(modelId=CLAUDE, messages=user())
    assert only_span(telemetry).attributes["error.type"] == "ThrottlingException"


def test_invoke_model_with_response_stream_anthropic_and_llama(telemetry, bedrock):
    client = bedrock.client()
    result = client.invoke_model_with_response_stream(modelId=CLAUDE, body=anthropic_request())
    assert isinstance(result["body"], EventStream)
    events = [json.loads(e["chunk"]["bytes"]) for e in result["body"]]
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text.startswith("{")
    llama = client.invoke_model_with_response_stream(modelId=LLAMA, body=llama_request())
    for _ in llama["body"]:
        pass
    claude_span, llama_span = telemetry.llm_spans()
    a = claude_span.attributes
    assert a["llm_drift.serving.model"] == "claude-3-5-sonnet-20240620"
    assert a["llm_drift.shape.kind"] == "json"
    assert a["gen_ai.usage.input_tokens"] == 42
    assert a["gen_ai.usage.output_tokens"] == events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"]
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    b = llama_span.attributes
    assert b["llm_drift.serving.model"] == LLAMA
    assert b["llm_drift.shape.kind"] == "markdown"
    assert b["llm_drift.prompt.variant"] == a["llm_drift.prompt.variant"]
    assert b["gen_ai.response.finish_reasons"] == ("stop",)


def test_chain_fallback_from_a_failed_converse_to_a_stream(telemetry, bedrock):
    bedrock.failing.add(CLAUDE)
    client = bedrock.client()
    with ld.request():
        try:
            converse(client)
        except ClientError:
            for _ in client.converse_stream(modelId=LLAMA, system=[{"text": SYSTEM}], messages=user())["stream"]:
                pass
    _, served = telemetry.llm_spans()
    assert served.attributes["llm_drift.fallback.source"] == "chain"
    assert served.attributes["llm_drift.shape.kind"] == "markdown"
