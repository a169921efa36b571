"""The Cohere adapter end to end: the real `cohere` SDK (v2 Chat API) over a mock transport, spans as exported."""

from __future__ import annotations

import gc
import inspect
import re
import subprocess
import sys
import types

import cohere
import httpx
import pytest

import llm_drift_otel as ld
from cohere_bodies import TOOL, BASE_URL, CohereAPI, messages

COMMAND_A, R7B = "command-a-03-2025", "command-r7b-12-2024"


@pytest.fixture
def api():
    return CohereAPI(styles={COMMAND_A: "json_card", R7B: "markdown_bullets"}, tool_models={"tool-model"}, seed=5)


def only_span(telemetry):
    spans = telemetry.llm_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def test_chat_span_carries_serving_model_variant_shape_and_usage(telemetry, api):
    result = api.client().chat(model=COMMAND_A, messages=messages())
    assert isinstance(result, cohere.V2ChatResponse)
    span = only_span(telemetry)
    a = span.attributes
    assert span.name == f"chat {COMMAND_A}" and span.kind.name == "CLIENT"
    assert a["gen_ai.provider.name"] == "cohere"
    assert a["gen_ai.request.model"] == COMMAND_A
    assert "gen_ai.response.model" not in a  # the v2 body does not name the model
    assert a["llm_drift.serving.model"] == COMMAND_A  # so the requested one stands
    assert a["llm_drift.model.substituted"] is False
    assert re.fullmatch(r"sys-[0-9a-f]{12}", a["llm_drift.prompt.variant"])
    assert a["llm_drift.shape.kind"] == "json"
    assert re.fullmatch(r"[0-9a-f]{16}", a["llm_drift.shape.id"])
    assert a["llm_drift.fallback.active"] is False
    assert a["gen_ai.response.id"] == "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    assert a["gen_ai.response.finish_reasons"] == ("COMPLETE",)
    assert a["gen_ai.usage.input_tokens"] == 215  # `tokens`, not the billed 12
    assert a["gen_ai.usage.output_tokens"] == int(result.usage.tokens.output_tokens)
    assert (a["server.address"], a["server.port"]) == ("127.0.0.1", 9)
    assert ld.fingerprint(result).id == a["llm_drift.shape.id"]


def test_markdown_answer_and_typed_system_message(telemetry, api):
    client = api.client()
    client.chat(model=R7B, messages=[cohere.SystemChatMessageV2(content="Answer in markdown."),
                                     cohere.UserChatMessageV2(content="hi")])
    client.chat(model=R7B, messages=messages(system="Answer in markdown."))
    client.chat(model=R7B, messages=messages(system=None))
    typed, plain, bare = (s.attributes for s in telemetry.llm_spans())
    assert typed["llm_drift.shape.kind"] == "markdown"
    assert typed["llm_drift.prompt.variant"] == plain["llm_drift.prompt.variant"] != "none"
    assert bare["llm_drift.prompt.variant"] == "none"


def test_json_response_format_and_named_variant(telemetry, api):
    with ld.prompt_variant("support-card-v3", tuned_for=[COMMAND_A]):
        api.client().chat(model=COMMAND_A, messages=messages(), response_format={"type": "json_object"})
    a = only_span(telemetry).attributes
    assert a["gen_ai.output.type"] == "json"
    assert a["llm_drift.prompt.variant"] == "support-card-v3"
    assert a["llm_drift.prompt.mismatch"] is False


def test_tool_call_answer_same_shape_streamed_or_not(telemetry, api):
    client = api.client()
    result = client.chat(model="tool-model", messages=messages(), tools=[TOOL])
    assert result.message.tool_calls[0].function.name == "lookup_order"
    for _ in client.chat_stream(model="tool-model", messages=messages(), tools=[TOOL]):
        pass
    plain, streamed = (s.attributes for s in telemetry.llm_spans())
    assert plain["llm_drift.shape.kind"] == streamed["llm_drift.shape.kind"] == "tool_call"
    assert plain["llm_drift.shape.id"] == streamed["llm_drift.shape.id"]
    assert plain["gen_ai.response.finish_reasons"] == streamed["gen_ai.response.finish_reasons"] == ("TOOL_CALL",)


async def test_async_chat(telemetry, api):
    result = await api.async_client().chat(model=COMMAND_A, messages=messages())
    assert isinstance(result, cohere.V2ChatResponse)
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == COMMAND_A
    assert a["llm_drift.shape.kind"] == "json"
    assert a["gen_ai.usage.input_tokens"] == 215


def test_chat_stream_stays_a_generator_and_ends_span_on_exhaustion(telemetry, api):
    stream = api.client().chat_stream(model=COMMAND_A, messages=messages())
    assert isinstance(stream, types.GeneratorType)
    assert telemetry.llm_spans() == []  # lazy: nothing is sent or ended before the app reads
    events = list(stream)
    assert [e.type for e in events][0::len(events) - 1] == ["message-start", "message-end"]
    text = "".join(e.delta.message.content.text or "" for e in events if e.type == "content-delta")
    assert text.startswith("{")
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == COMMAND_A
    assert a["llm_drift.shape.kind"] == "json"
    assert a["gen_ai.response.id"] == "29f14a5a-11de-4cae-9800-25e4747408ea"
    assert a["gen_ai.response.finish_reasons"] == ("COMPLETE",)
    assert a["gen_ai.usage.input_tokens"] == 215 and a["gen_ai.usage.output_tokens"] > 0


def test_stream_shape_equals_chat_shape_of_same_text(telemetry):
    for _ in CohereAPI(styles={COMMAND_A: "json_card"}, seed=1).client().chat_stream(model=COMMAND_A,
                                                                                     messages=messages()):
        pass
    CohereAPI(styles={COMMAND_A: "json_card"}, seed=1).client().chat(model=COMMAND_A, messages=messages())
    streamed, plain = telemetry.llm_spans()
    assert streamed.attributes["llm_drift.shape.id"] == plain.attributes["llm_drift.shape.id"]


@pytest.mark.parametrize("how", ["close", "break_then_del", "gc_unread", "consumer_raises"])
def test_stream_span_ends_exactly_once_on_every_way_out(telemetry, api, how):
    stream = api.client().chat_stream(model=COMMAND_A, messages=messages())
    if how == "close":
        next(stream)
        stream.close()
        stream.close()
    elif how == "break_then_del":
        for _ in stream:
            break
        del stream
    elif how == "gc_unread":
        del stream
    elif how == "consumer_raises":
        with pytest.raises(KeyError):
            for _ in stream:
                raise KeyError("app bug")
        del stream
    gc.collect()
    span = only_span(telemetry)
    assert span.end_time is not None
    assert span.attributes["llm_drift.serving.model"] == COMMAND_A
    assert "llm_drift.shape.kind" not in span.attributes  # a partial answer is not judged


# `AsyncV2Client.chat_stream` is an async generator function: called without `await`, it returns the
# stream. It is patched with the sync wrapper; the core must then proxy an async stream from a sync method.

async def test_async_chat_stream_stays_an_async_generator_with_one_span(telemetry, api):
    client = api.async_client()
    stream = client.chat_stream(model=COMMAND_A, messages=messages())  # no await, as the SDK intends
    assert inspect.isasyncgen(stream)
    events = [e async for e in stream]
    assert events[-1].type == "message-end"
    early = client.chat_stream(model=COMMAND_A, messages=messages())
    async for _ in early:
        break
    del early
    gc.collect()
    full, closed = telemetry.llm_spans()
    assert full.attributes["gen_ai.provider.name"] == "cohere"
    assert full.attributes["llm_drift.serving.model"] == COMMAND_A
    assert closed.end_time is not None and "llm_drift.shape.kind" not in closed.attributes


async def test_async_chat_stream_read_to_the_end_is_judged(telemetry, api):
    stream = api.async_client().chat_stream(model=COMMAND_A, messages=messages())
    assert telemetry.llm_spans() == []  # open while the app reads
    async for _ in stream:
        pass
    a = only_span(telemetry).attributes
    assert a["llm_drift.shape.kind"] == "json"
    assert a["gen_ai.response.finish_reasons"] == ("COMPLETE",)
    assert a["gen_ai.usage.output_tokens"] > 0


async def test_async_chat_stream_aclose_ends_the_span_at_once(telemetry, api):
    stream = api.async_client().chat_stream(model=COMMAND_A, messages=messages())
    async for _ in stream:
        break
    assert telemetry.llm_spans() == []
    await stream.aclose()
    span = only_span(telemetry)
    assert span.end_time is not None and "llm_drift.shape.kind" not in span.attributes


def test_sdk_error_is_reraised_unchanged_and_recorded(telemetry, api):
    api.failing.add(COMMAND_A)
    with pytest.raises(cohere.errors.ServiceUnavailableError) as info:
        api.client().chat(model=COMMAND_A, messages=messages())
    assert info.value.status_code == 503
    span = only_span(telemetry)
    assert span.attributes["error.type"] == "ServiceUnavailableError"
    assert span.status.status_code.name == "ERROR"


def test_stream_error_surfaces_on_first_read_and_is_recorded(telemetry, api):
    api.failing.add(COMMAND_A)
    stream = api.client().chat_stream(model=COMMAND_A, messages=messages())
    with pytest.raises(cohere.errors.ServiceUnavailableError):
        next(stream)
    assert only_span(telemetry).attributes["error.type"] == "ServiceUnavailableError"


def test_chain_fallback_after_rate_limit_inside_request(telemetry, api):
    api.failing.add(COMMAND_A)
    api.fail_status = 429
    client = api.client()
    with ld.request():
        try:
            client.chat(model=COMMAND_A, messages=messages())
        except cohere.errors.TooManyRequestsError:
            for _ in client.chat_stream(model=R7B, messages=messages()):
                pass
    failed, served = telemetry.llm_spans()
    assert failed.attributes["error.type"] == "TooManyRequestsError"
    a = served.attributes
    assert a["llm_drift.fallback.active"] is True
    assert a["llm_drift.fallback.source"] == "chain"
    assert a["llm_drift.fallback.primary"] == f"cohere/{COMMAND_A}"
    assert a["llm_drift.fallback.reason"] == "TooManyRequestsError"
    assert a["llm_drift.fallback.attempt"] == 1
    assert telemetry.counter_total("llm_drift.fallbacks", **{"llm_drift.fallback.source": "chain"}) == 1


def test_explicit_fallback_is_judged_against_the_primary_baseline(telemetry, api):
    client = api.client()
    for _ in range(5):  # warmup=5 in the fixture
        client.chat(model=COMMAND_A, messages=messages())
    with ld.fallback(primary=f"cohere/{COMMAND_A}", reason="Overloaded"):
        client.chat(model=R7B, messages=messages())
    a = telemetry.llm_spans()[-1].attributes
    assert (a["llm_drift.fallback.source"], a["llm_drift.fallback.primary"], a["llm_drift.fallback.reason"]) == (
        "explicit", f"cohere/{COMMAND_A}", "Overloaded")
    assert a["llm_drift.shape.kind"] == "markdown"
    assert a["llm_drift.shape.drifted"] is True
    assert a["llm_drift.baseline.samples"] == 5


def test_v1_client_v2_namespace_makes_one_span(telemetry, api):
    client = cohere.Client(api_key="test-not-a-key", base_url=BASE_URL, max_retries=0,
                           httpx_client=httpx.Client(transport=httpx.MockTransport(api.handle)))
    client.v2.chat(model=COMMAND_A, messages=messages())
    a = only_span(telemetry).attributes
    assert a["server.address"] == "127.0.0.1"
    assert a["llm_drift.shape.kind"] == "json"


def test_results_are_identical_with_and_without_instrumentation(telemetry):
    with_it = CohereAPI(styles={COMMAND_A: "json_card"}, seed=3).client().chat(model=COMMAND_A, messages=messages())
    ld.uninstrument()
    bare = CohereAPI(styles={COMMAND_A: "json_card"}, seed=3).client().chat(model=COMMAND_A, messages=messages())
    assert type(with_it) is type(bare)
    assert with_it.message.content[0].text == bare.message.content[0].text


def test_bedrock_v2_client_is_named_as_aws_bedrock():
    from llm_drift_otel.providers.cohere import chat_request

    client = cohere.BedrockClientV2(aws_region="us-east-1", aws_access_key="AKIDEXAMPLE", aws_secret_key="secret")
    info = chat_request(client, (), {"model": "cohere.command-r-plus-v1:0", "messages": messages()})
    assert info.provider == "aws.bedrock"
    assert info.model == "cohere.command-r-plus-v1:0"


def test_instrumenting_before_the_sdk_is_imported_patches_it():
    code = (
        "import llm_drift_otel as ld; ld.instrument(); import cohere; import cohere.v2.client as v2;"
        "print(*(type(vars(c)[m]).__name__ for c in (v2.V2Client, v2.AsyncV2Client) for m in ('chat', 'chat_stream')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["FunctionWrapper"] * 4


def test_reasoning_model_thinking_is_not_part_of_the_answer_shape(telemetry):
    """A thinking item (or thinking deltas) before the text: only the text is the answer's shape."""
    def client(thinking: bool):
        return CohereAPI(styles={COMMAND_A: "json_card"}, thinking_models={COMMAND_A} if thinking else set(),
                         seed=2).client()

    client(False).chat(model=COMMAND_A, messages=messages())
    reasoned = client(True).chat(model=COMMAND_A, messages=messages())
    assert reasoned.message.content[0].type == "thinking"
    for _ in client(True).chat_stream(model=COMMAND_A, messages=messages()):
        pass
    ids = {s.attributes["llm_drift.shape.id"] for s in telemetry.llm_spans()}
    kinds = {s.attributes["llm_drift.shape.kind"] for s in telemetry.llm_spans()}
    assert len(ids) == 1 and kinds == {"json"}
