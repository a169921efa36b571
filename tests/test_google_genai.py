"""The Google GenAI adapter end to end: the real `google-genai` SDK over a mock transport, Gemini bodies."""

from __future__ import annotations

import gc
import re
import types as pytypes

import pytest
from google.genai import errors, types

import llm_drift_otel as ld
from google_bodies import SYSTEM, GeminiMock

PRO, FLASH = "gemini-1.5-pro", "gemini-1.5-flash"


@pytest.fixture
def gemini():
    return GeminiMock()


def only_span(telemetry):
    spans = telemetry.llm_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def config(**extra):
    return types.GenerateContentConfig(system_instruction=SYSTEM, **extra)


def test_generate_content_span_carries_serving_model_variant_shape_and_usage(telemetry, gemini):
    client = gemini.client()
    response = client.models.generate_content(model=PRO, contents="Where is my order?", config=config())
    assert isinstance(response, types.GenerateContentResponse)
    assert response.text.startswith("{")
    span = only_span(telemetry)
    a = span.attributes
    assert span.name == "chat gemini-1.5-pro"
    assert span.kind.name == "CLIENT"
    assert a["gen_ai.provider.name"] == "gcp.gemini"
    assert a["gen_ai.request.model"] == PRO
    assert a["gen_ai.response.model"] == "gemini-1.5-pro-002"
    assert a["llm_drift.serving.model"] == "gemini-1.5-pro-002"
    assert a["llm_drift.model.substituted"] is False  # -002 is a revision of the same model
    assert re.fullmatch(r"sys-[0-9a-f]{12}", a["llm_drift.prompt.variant"])
    assert a["llm_drift.shape.kind"] == "json"
    assert re.fullmatch(r"[0-9a-f]{16}", a["llm_drift.shape.id"])
    assert a["llm_drift.shape.refusal"] is False
    assert a["llm_drift.fallback.active"] is False
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.response.id"] == "mBzWZ7PXNqGS2PgP5YyQ8Ag"
    assert a["gen_ai.usage.input_tokens"] == 42
    assert a["gen_ai.usage.output_tokens"] == response.usage_metadata.candidates_token_count
    assert a["server.address"] == "127.0.0.1"
    assert [p.rsplit("/", 2)[-2:] for p in gemini.paths] == [["models", "gemini-1.5-pro:generateContent"]]


def test_result_is_what_the_sdk_returns_uninstrumented(telemetry, gemini):
    client = gemini.client()
    gemini.provider._rng.seed(5)
    instrumented = client.models.generate_content(model=PRO, contents="hi", config=config())
    ld.uninstrument()
    gemini.provider._rng.seed(5)
    bare = client.models.generate_content(model=PRO, contents="hi", config=config())
    assert type(instrumented) is type(bare)
    assert instrumented.model_dump(exclude={"sdk_http_response"}) == bare.model_dump(exclude={"sdk_http_response"})
    assert len(telemetry.llm_spans()) == 1


@pytest.mark.parametrize("instruction", [
    SYSTEM,
    types.Content(role="system", parts=[types.Part(text=SYSTEM)]),
    [types.Part(text=SYSTEM)],
    {"parts": [{"text": SYSTEM}]},
])
def test_system_instruction_in_every_form_gives_one_variant(telemetry, gemini, instruction):
    client = gemini.client()
    client.models.generate_content(model=PRO, contents="hi", config={"system_instruction": instruction})
    client.models.generate_content(model=PRO, contents="hi", config=config())
    first, second = telemetry.llm_spans()
    assert first.attributes["llm_drift.prompt.variant"] == second.attributes["llm_drift.prompt.variant"]
    assert first.attributes["llm_drift.prompt.variant"].startswith("sys-")


def test_no_system_instruction_is_variant_none_and_markdown_is_judged_markdown(telemetry, gemini):
    client = gemini.client()
    client.models.generate_content(model=FLASH, contents="hi")
    a = only_span(telemetry).attributes
    assert a["llm_drift.prompt.variant"] == "none"
    assert a["llm_drift.shape.kind"] == "markdown"
    assert a["llm_drift.serving.model"] == "gemini-1.5-flash-002"


def test_json_mime_type_is_the_output_type(telemetry, gemini):
    client = gemini.client()
    client.models.generate_content(model=PRO, contents="hi", config=config(response_mime_type="application/json"))
    assert only_span(telemetry).attributes["gen_ai.output.type"] == "json"


def test_function_call_part_is_a_tool_call_shape(telemetry, gemini):
    gemini.tool_models.add(PRO)
    client = gemini.client()
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_order_status", description="Order status",
        parameters=types.Schema(type="OBJECT", properties={"order_id": types.Schema(type="STRING")}))])
    response = client.models.generate_content(model=PRO, contents="Where is A-1042?", config=config(tools=[tool]))
    assert response.function_calls[0].name == "get_order_status"
    a = only_span(telemetry).attributes
    assert a["llm_drift.shape.kind"] == "tool_call"
    assert "get_order_status" in a["llm_drift.shape.signature"]


def test_safety_finish_reason_and_blocked_prompt_are_refusals(telemetry, gemini):
    gemini.blocked_models.add(PRO)
    gemini.prompt_blocked_models.add(FLASH)
    client = gemini.client()
    client.models.generate_content(model=PRO, contents="hi", config=config())
    client.models.generate_content(model=FLASH, contents="hi", config=config())
    safety, prompt_blocked = telemetry.llm_spans()
    assert safety.attributes["llm_drift.shape.refusal"] is True
    assert safety.attributes["llm_drift.shape.kind"] == "refusal"
    assert safety.attributes["gen_ai.response.finish_reasons"] == ("safety",)
    assert prompt_blocked.attributes["llm_drift.shape.refusal"] is True
    assert prompt_blocked.attributes["gen_ai.response.finish_reasons"] == ("prohibited_content",)


async def test_async_generate_content(telemetry, gemini):
    client = gemini.client()
    response = await client.aio.models.generate_content(model=PRO, contents="hi", config=config())
    assert isinstance(response, types.GenerateContentResponse)
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == "gemini-1.5-pro-002"
    assert a["llm_drift.shape.kind"] == "json"
    assert a["llm_drift.prompt.variant"].startswith("sys-")


def test_vertex_mode_client_is_the_vertex_provider(telemetry, gemini):
    client = gemini.client(vertexai=True)
    client.models.generate_content(model=PRO, contents="hi", config=config())
    a = only_span(telemetry).attributes
    assert a["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert a["llm_drift.serving.model"] == "gemini-1.5-pro-002"
    assert "/publishers/google/models/gemini-1.5-pro:" in gemini.paths[-1]  # the Vertex AI URL form


def test_stream_is_still_a_generator_and_span_ends_on_exhaustion(telemetry, gemini):
    client = gemini.client()
    stream = client.models.generate_content_stream(model=PRO, contents="hi", config=config())
    assert isinstance(stream, pytypes.GeneratorType)
    assert telemetry.llm_spans() == []  # open while the app reads
    chunks = list(stream)
    assert len(chunks) > 1 and all(isinstance(c, types.GenerateContentResponse) for c in chunks)
    assert "".join(c.text or "" for c in chunks).startswith("{")
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == "gemini-1.5-pro-002"
    assert a["llm_drift.shape.kind"] == "json"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.output_tokens"] == chunks[-1].usage_metadata.candidates_token_count


def test_stream_shape_equals_non_stream_shape_of_the_same_text(telemetry, gemini):
    client = gemini.client()
    gemini.provider._rng.seed(11)
    for _ in client.models.generate_content_stream(model=PRO, contents="hi", config=config()):
        pass
    gemini.provider._rng.seed(11)
    client.models.generate_content(model=PRO, contents="hi", config=config())
    streamed, whole = telemetry.llm_spans()
    assert streamed.attributes["llm_drift.shape.id"] == whole.attributes["llm_drift.shape.id"]


def test_streamed_function_call_is_a_tool_call(telemetry, gemini):
    gemini.tool_models.add(PRO)
    client = gemini.client()
    for _ in client.models.generate_content_stream(model=PRO, contents="hi", config=config()):
        pass
    assert only_span(telemetry).attributes["llm_drift.shape.kind"] == "tool_call"


@pytest.mark.parametrize("how", ["break_then_close", "break_then_del", "consumer_raises", "gc_unread"])
def test_stream_span_ends_exactly_once_on_every_way_out(telemetry, gemini, how):
    client = gemini.client()
    stream = client.models.generate_content_stream(model=PRO, contents="hi", config=config())
    if how == "break_then_close":
        for _ in stream:
            break
        stream.close()
        stream.close()  # twice is harmless, as on a bare generator
    elif how == "break_then_del":
        for _ in stream:
            break
        del stream
    elif how == "consumer_raises":
        with pytest.raises(KeyError):
            for _ in stream:
                raise KeyError("app bug")
        del stream
    elif how == "gc_unread":
        del stream
    gc.collect()
    span = only_span(telemetry)
    assert span.end_time is not None
    assert "llm_drift.shape.kind" not in span.attributes  # an unfinished stream is not judged
    assert "error.type" not in span.attributes


async def test_async_stream_full_and_closed_early(telemetry, gemini):
    client = gemini.client()
    stream = await client.aio.models.generate_content_stream(model=PRO, contents="hi", config=config())
    assert isinstance(stream, pytypes.AsyncGeneratorType)
    text = "".join([chunk.text or "" async for chunk in stream])
    assert text.startswith("{")
    early = await client.aio.models.generate_content_stream(model=PRO, contents="hi", config=config())
    async for _ in early:
        break
    await early.aclose()
    del early  # the core proxy ends the span on close/GC; an async generator is closed with aclose()
    gc.collect()
    full, closed = telemetry.llm_spans()
    assert full.attributes["llm_drift.shape.kind"] == "json"
    assert full.attributes["llm_drift.serving.model"] == "gemini-1.5-pro-002"
    assert closed.end_time is not None
    assert "llm_drift.shape.kind" not in closed.attributes


def test_chat_send_message_goes_through_generate_content(telemetry, gemini):
    client = gemini.client()
    chat = client.chats.create(model=PRO, config=config())
    chat.send_message("hi")
    for _ in chat.send_message_stream("again"):
        pass
    spans = telemetry.llm_spans()
    assert len(spans) == 2
    assert {s.attributes["llm_drift.shape.kind"] for s in spans} == {"json"}


def test_server_error_is_reraised_unchanged_and_recorded(telemetry, gemini):
    gemini.failing.add(PRO)
    client = gemini.client()
    with pytest.raises(errors.ServerError) as info:
        client.models.generate_content(model=PRO, contents="hi", config=config())
    assert info.value.code == 503
    span = only_span(telemetry)
    assert span.attributes["error.type"] == "ServerError"
    assert span.status.status_code.name == "ERROR"


def test_stream_error_surfaces_on_first_read_and_is_recorded(telemetry, gemini):
    gemini.failing.add(PRO)
    client = gemini.client()
    stream = client.models.generate_content_stream(model=PRO, contents="hi", config=config())
    with pytest.raises(errors.ServerError):
        next(stream)
    assert only_span(telemetry).attributes["error.type"] == "ServerError"


def test_chain_fallback_after_rate_limit_inside_request(telemetry, gemini):
    gemini.failing.add(PRO)
    gemini.provider.fail_status = 429
    client = gemini.client()
    with ld.request():
        try:
            client.models.generate_content(model=PRO, contents="hi", config=config())
        except errors.ClientError:
            client.models.generate_content(model=FLASH, contents="hi", config=config())
    failed, served = telemetry.llm_spans()
    assert failed.attributes["error.type"] == "ClientError"
    a = served.attributes
    assert a["llm_drift.fallback.active"] is True
    assert a["llm_drift.fallback.source"] == "chain"
    assert a["llm_drift.fallback.primary"] == "gcp.gemini/gemini-1.5-pro"
    assert a["llm_drift.fallback.reason"] == "ClientError"
    assert a["llm_drift.fallback.attempt"] == 1
    assert a["llm_drift.serving.model"] == "gemini-1.5-flash-002"
    assert telemetry.counter_total("llm_drift.fallbacks", **{"llm_drift.fallback.source": "chain"}) == 1


async def test_chain_fallback_across_an_async_stream(telemetry, gemini):
    gemini.failing.add(PRO)
    client = gemini.client()
    with ld.request():
        try:
            async for _ in await client.aio.models.generate_content_stream(model=PRO, contents="hi", config=config()):
                pass
        except errors.ServerError:
            async for _ in await client.aio.models.generate_content_stream(model=FLASH, contents="hi",
                                                                           config=config()):
                pass
    failed, served = telemetry.llm_spans()
    assert failed.attributes["error.type"] == "ServerError"
    assert served.attributes["llm_drift.fallback.source"] == "chain"
    assert served.attributes["llm_drift.shape.kind"] == "markdown"


def test_explicit_fallback_and_named_variant(telemetry, gemini):
    client = gemini.client()
    with ld.prompt_variant("support-card-v3", tuned_for=[PRO]), \
            ld.fallback(primary="openai/gpt-4o", reason="RateLimitError"):
        client.models.generate_content(model=FLASH, contents="hi", config=config())
    a = only_span(telemetry).attributes
    assert a["llm_drift.prompt.variant"] == "support-card-v3"
    assert a["gen_ai.prompt.name"] == "support-card-v3"
    assert a["llm_drift.prompt.mismatch"] is True
    assert (a["llm_drift.fallback.source"], a["llm_drift.fallback.primary"], a["llm_drift.fallback.reason"]) == (
        "explicit", "openai/gpt-4o", "RateLimitError")


def test_drift_is_judged_after_warmup_for_fallback_traffic(telemetry, gemini):
    client = gemini.client()
    for _ in range(5):  # warmup=5 in the fixture
        client.models.generate_content(model=PRO, contents="hi", config=config())
    with ld.fallback(primary="gcp.gemini/gemini-1.5-pro"):
        client.models.generate_content(model=FLASH, contents="hi", config=config())
    a = telemetry.llm_spans()[-1].attributes
    assert a["llm_drift.shape.kind"] == "markdown"
    assert a["llm_drift.shape.drifted"] is True
    assert telemetry.counter_total("llm_drift.responses", **{"gen_ai.provider.name": "gcp.gemini"}) == 6


def test_fingerprint_accepts_a_gemini_response(telemetry, gemini):
    client = gemini.client()
    response = client.models.generate_content(model=PRO, contents="hi", config=config())
    shape = ld.fingerprint(response)
    assert shape.kind == "json"
    assert shape.id == only_span(telemetry).attributes["llm_drift.shape.id"]
