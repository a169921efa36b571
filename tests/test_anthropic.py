"""The Anthropic adapter end to end: the real `anthropic` SDK over a mock transport answering the Messages API's
wire format (JSON and SSE), spans and metrics as exported; with the SDK's own OpenTelemetry tracing off and on."""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path

import anthropic
import httpx2
import openai
import pytest
from pydantic import BaseModel

import llm_drift_otel as ld
from anthropic_bodies import BASE_URL, SYSTEM, TOOL, AnthropicAPI, clients, messages, serve
from llm_drift_otel._mock_provider import MockProvider
from openai_helpers import clients as openai_clients
from openai_helpers import messages as openai_messages

PRIMARY = "claude-sonnet-4-6"
SERVED = {
    PRIMARY: "claude-sonnet-4-6-20260217",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-3-5-sonnet-latest": "claude-3-5-sonnet-20241022",  # an alias resolved to its snapshot
    "claude-opus-4": "claude-sonnet-4-20250514",  # a server-side fallback to another model
}
OUR_SCOPE = "llm_drift_otel"
SDK_SCOPE = "com.anthropic.sdk.python"


@pytest.fixture
def api():
    return AnthropicAPI(styles={PRIMARY: "json_card", "claude-haiku-4-5": "markdown_bullets"}, served=dict(SERVED),
                        tool_models={"claude-tools"}, refusal_models={"claude-refuses"}, seed=7)


def ours(telemetry) -> list:
    return [s for s in telemetry.spans.get_finished_spans() if s.instrumentation_scope.name == OUR_SCOPE]


def only_span(telemetry):
    spans = ours(telemetry)
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def create(client, model: str = PRIMARY, **kwargs):
    return client.messages.create(model=model, max_tokens=512, system=SYSTEM, messages=messages(), **kwargs)


def test_create_span_carries_serving_model_variant_shape_and_usage(telemetry, api):
    client, _ = clients(api)
    result = create(client)
    assert isinstance(result, anthropic.types.Message)
    span = only_span(telemetry)
    a = span.attributes
    assert span.name == f"chat {PRIMARY}"
    assert span.kind.name == "CLIENT"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.request.model"] == PRIMARY
    assert a["gen_ai.response.model"] == SERVED[PRIMARY]
    assert a["gen_ai.response.id"] == "msg_01MockXk3v9Q2"
    assert a["llm_drift.serving.model"] == SERVED[PRIMARY]
    assert a["llm_drift.model.substituted"] is False
    assert re.fullmatch(r"sys-[0-9a-f]{12}", a["llm_drift.prompt.variant"])
    assert a["llm_drift.fallback.active"] is False
    assert a["llm_drift.fallback.attempt"] == 0
    assert a["llm_drift.shape.kind"] == "json"
    assert re.fullmatch(r"[0-9a-f]{16}", a["llm_drift.shape.id"])
    assert a["llm_drift.shape.refusal"] is False
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["gen_ai.usage.input_tokens"] == 50  # 42 + 8 read from the prompt cache: all input, as semconv counts it
    assert a["gen_ai.usage.output_tokens"] == result.usage.output_tokens
    assert a["server.address"] == "127.0.0.1"
    assert "error.type" not in a


def test_markdown_answer_has_markdown_shape(telemetry, api):
    client, _ = clients(api)
    create(client, "claude-haiku-4-5")
    a = only_span(telemetry).attributes
    assert a["llm_drift.shape.kind"] == "markdown"
    assert a["llm_drift.serving.model"] == "claude-haiku-4-5-20251001"


@pytest.mark.parametrize("requested, substituted", [
    ("claude-3-5-sonnet-latest", False),  # alias -> its dated snapshot: the same model
    ("claude-opus-4", True),  # the API served another model
])
def test_server_side_substitution(telemetry, api, requested, substituted):
    client, _ = clients(api)
    create(client, requested)
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == SERVED[requested]
    assert a["llm_drift.model.substituted"] is substituted


def test_system_prompt_as_string_or_text_blocks_is_one_variant(telemetry, api):
    client, _ = clients(api)
    for system in (SYSTEM, [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
                   "  " + SYSTEM.replace(" ", "  ") + "\n", SYSTEM + " Be brief."):
        client.messages.create(model=PRIMARY, max_tokens=512, system=system, messages=messages())
    client.messages.create(model=PRIMARY, max_tokens=512, messages=messages())
    v = [s.attributes["llm_drift.prompt.variant"] for s in ours(telemetry)]
    assert v[0] == v[1] == v[2] != v[3]
    assert v[4] == "none"


def test_tool_use_is_a_tool_call_shape_streamed_or_not(telemetry, api):
    client, _ = clients(api)
    result = client.messages.create(model="claude-tools", max_tokens=512, messages=messages(), tools=[TOOL])
    assert result.stop_reason == "tool_use"
    for _ in client.messages.create(model="claude-tools", max_tokens=512, messages=messages(), tools=[TOOL],
                                    stream=True):
        pass
    plain, streamed = ours(telemetry)
    for span in (plain, streamed):
        assert span.attributes["llm_drift.shape.kind"] == "tool_call"
        assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
        assert "lookup_order(" in span.attributes["llm_drift.shape.signature"]
    assert plain.attributes["llm_drift.shape.id"] == streamed.attributes["llm_drift.shape.id"]


def test_refusal_stop_reason_marks_refusal_streamed_or_not(telemetry, api):
    client, _ = clients(api)
    result = create(client, "claude-refuses")
    assert result.stop_reason == "refusal"
    with client.messages.stream(model="claude-refuses", max_tokens=512, messages=messages()) as stream:
        stream.until_done()
    for span in ours(telemetry):
        a = span.attributes
        assert a["llm_drift.shape.refusal"] is True
        assert a["llm_drift.shape.kind"] == "refusal"
        assert a["gen_ai.response.finish_reasons"] == ("refusal",)
    assert telemetry.counter_total("llm_drift.responses", **{"llm_drift.shape.refusal": "true"}) == 2


async def test_async_create(telemetry, api):
    _, client = clients(api)
    result = await create(client)
    assert isinstance(result, anthropic.types.Message)
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == SERVED[PRIMARY]
    assert a["llm_drift.shape.kind"] == "json"


def test_stream_keeps_sdk_type_and_ends_span_on_exhaustion(telemetry, api):
    client, _ = clients(api)
    stream = create(client, stream=True)
    assert isinstance(stream, anthropic.Stream)
    assert ours(telemetry) == []  # open while the app reads
    text = "".join(e.delta.text for e in stream if e.type == "content_block_delta")
    assert text.startswith("{")
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == SERVED[PRIMARY]  # from message_start
    assert a["llm_drift.shape.kind"] == "json"
    assert a["gen_ai.usage.input_tokens"] == 50  # message_start
    assert a["gen_ai.usage.output_tokens"] > 1  # message_delta's final count, not message_start's placeholder
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)


def test_every_way_of_reading_gives_the_same_shape(telemetry, api):
    client, _ = clients(api)
    api.rng.seed(1)
    create(client)
    api.rng.seed(1)
    for _ in create(client, stream=True):
        pass
    api.rng.seed(1)
    with client.messages.stream(model=PRIMARY, max_tokens=512, system=SYSTEM, messages=messages()) as stream:
        final = stream.get_final_message()
    assert final.content[0].text.startswith("{")
    ids = {s.attributes["llm_drift.shape.id"] for s in ours(telemetry)}
    assert len(ours(telemetry)) == 3 and len(ids) == 1


@pytest.mark.parametrize("how", ["break_then_del", "close", "with_exit", "consumer_raises", "gc_unread"])
def test_stream_span_ends_exactly_once_on_every_way_out(telemetry, api, how):
    client, _ = clients(api)
    stream = create(client, stream=True)
    if how == "break_then_del":
        for _ in stream:
            break
        del stream
    elif how == "close":
        next(iter(stream))
        stream.close()
        stream.close()  # twice is harmless
    elif how == "with_exit":
        with stream as s:
            assert isinstance(s, anthropic.Stream)
            next(iter(s))
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
    assert span.attributes["llm_drift.serving.model"] in (SERVED[PRIMARY], PRIMARY)
    # an unfinished stream is not judged: its partial text is not the model's shape
    assert "llm_drift.shape.kind" not in span.attributes


async def test_async_stream_full_and_early_close(telemetry, api):
    _, client = clients(api)
    stream = await create(client, stream=True)
    assert isinstance(stream, anthropic.AsyncStream)
    async for _ in stream:
        pass
    stream2 = await create(client, stream=True)
    async with stream2:
        async for _ in stream2:
            break
    first, second = ours(telemetry)
    assert first.attributes["llm_drift.shape.kind"] == "json"
    assert second.end_time is not None and "llm_drift.shape.kind" not in second.attributes


def test_stream_helper_text_stream_and_final_message_make_one_judged_span(telemetry, api):
    client, _ = clients(api)
    with client.messages.stream(model=PRIMARY, max_tokens=512, system=SYSTEM, messages=messages()) as stream:
        assert isinstance(stream, anthropic.MessageStream)
        assert ours(telemetry) == []
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.content[0].text == text and text.startswith("{")
    a = only_span(telemetry).attributes
    assert a["llm_drift.shape.kind"] == "json"
    assert a["llm_drift.serving.model"] == SERVED[PRIMARY]
    assert a["gen_ai.usage.output_tokens"] == final.usage.output_tokens
    assert a["llm_drift.prompt.variant"].startswith("sys-")


def test_stream_helper_left_early_ends_its_span_at_with_exit(telemetry, api):
    client, _ = clients(api)
    with client.messages.stream(model=PRIMARY, max_tokens=512, messages=messages()) as stream:
        for _ in stream.text_stream:
            break
        assert ours(telemetry) == []
    span = only_span(telemetry)  # ended by the manager's exit, not by garbage collection
    assert "llm_drift.shape.kind" not in span.attributes


async def test_async_stream_helper(telemetry, api):
    _, client = clients(api)
    async with client.messages.stream(model=PRIMARY, max_tokens=512, system=SYSTEM, messages=messages()) as stream:
        assert isinstance(stream, anthropic.AsyncMessageStream)
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert final.content[0].text == text
    a = only_span(telemetry).attributes
    assert a["llm_drift.shape.kind"] == "json"
    assert a["llm_drift.serving.model"] == SERVED[PRIMARY]


def test_stream_helper_failure_is_recorded(telemetry, api):
    api.failing.add(PRIMARY)
    client, _ = clients(api)
    with pytest.raises(anthropic.InternalServerError):
        with client.messages.stream(model=PRIMARY, max_tokens=512, messages=messages()):
            pass
    assert only_span(telemetry).attributes["error.type"] == "ServiceUnavailableError"  # the SDK's class for 503


def test_with_raw_response_sync_and_async_are_judged(telemetry, api):
    client, aclient = clients(api)
    raw = client.messages.with_raw_response.create(model=PRIMARY, max_tokens=512, messages=messages())
    assert raw.headers["request-id"] == "req_mock"
    assert isinstance(raw.parse(), anthropic.types.Message)
    import asyncio

    araw = asyncio.run(aclient.messages.with_raw_response.create(model=PRIMARY, max_tokens=512, messages=messages()))
    assert isinstance(asyncio.run(araw.parse()), anthropic.types.Message)
    for span in ours(telemetry):
        assert span.attributes["llm_drift.shape.kind"] == "json"
        assert span.attributes["llm_drift.serving.model"] == SERVED[PRIMARY]


@pytest.mark.parametrize("stream", [False, True])
def test_with_streaming_response_body_is_read_by_the_app_only(telemetry, api, stream):
    client, _ = clients(api)
    with client.messages.with_streaming_response.create(model=PRIMARY, max_tokens=512, messages=messages(),
                                                        stream=stream) as response:
        body = response.parse()
        events = [e.type for e in body] if stream else []
    assert isinstance(body, anthropic.Stream if stream else anthropic.types.Message)
    assert events[-1:] == (["message_stop"] if stream else [])
    span = only_span(telemetry)
    assert span.end_time is not None and span.attributes["llm_drift.serving.model"] in (PRIMARY, SERVED[PRIMARY])
    if stream:  # the app's stream, not proxied: never judged from a partial read
        assert "llm_drift.shape.kind" not in span.attributes


def test_over_a_real_http_server(telemetry, api):
    """Real sockets: the body of `with_streaming_response` is unread when the call returns, so it is not judged."""
    with serve(api) as base_url:
        client = anthropic.Anthropic(api_key="sk-ant-test-not-a-key", base_url=base_url, max_retries=0,
                                     open_telemetry=False)
        create(client)
        with client.messages.stream(model=PRIMARY, max_tokens=512, messages=messages()) as stream:
            text = "".join(stream.text_stream)
        with client.messages.with_streaming_response.create(model=PRIMARY, max_tokens=512,
                                                            messages=messages()) as response:
            body = response.parse()
        client.close()
    assert text.startswith("{") and isinstance(body, anthropic.types.Message)
    plain, streamed, unread = ours(telemetry)
    assert plain.attributes["llm_drift.shape.kind"] == streamed.attributes["llm_drift.shape.kind"] == "json"
    assert plain.attributes["server.port"] == streamed.attributes["server.port"] > 0
    assert unread.end_time is not None and "llm_drift.shape.kind" not in unread.attributes


class Card(BaseModel):
    title: str
    summary: str
    actions: list[str]
    confidence: float


def test_parse_with_output_format(telemetry, api):
    client, _ = clients(api)
    result = client.messages.parse(model=PRIMARY, max_tokens=512, messages=messages(), output_format=Card)
    assert isinstance(result.parsed_output, Card)
    a = only_span(telemetry).attributes
    assert a["gen_ai.output.type"] == "json"
    assert a["llm_drift.shape.kind"] == "json"


def test_beta_messages_create_and_stream(telemetry, api):
    client, _ = clients(api)
    client.beta.messages.create(model=PRIMARY, max_tokens=512, messages=messages())
    with client.beta.messages.stream(model=PRIMARY, max_tokens=512, messages=messages()) as stream:
        stream.until_done()
    spans = ours(telemetry)
    assert len(spans) == 2
    assert {s.attributes["llm_drift.shape.kind"] for s in spans} == {"json"}


def test_other_api_calls_are_not_llm_spans(telemetry, api):
    client, _ = clients(api)
    assert client.messages.count_tokens(model=PRIMARY, messages=messages()).input_tokens == 17
    assert ours(telemetry) == []


def test_clients_made_before_instrumentation_are_covered(instrument_with, api):
    ld.uninstrument()
    client, _ = clients(api)
    raw_create = client.messages.with_raw_response.create  # binds `create` now
    telemetry = instrument_with(warmup=5)
    create(client)
    raw_create(model=PRIMARY, max_tokens=512, messages=messages()).parse()
    assert len(ours(telemetry)) == 2


def test_sdk_exception_is_reraised_unchanged_and_recorded(telemetry, api):
    api.failing.add(PRIMARY)
    client, _ = clients(api)
    with pytest.raises(anthropic.InternalServerError) as info:
        create(client)
    assert info.value.status_code == 503
    span = only_span(telemetry)
    assert span.attributes["error.type"] == type(info.value).__qualname__ == "ServiceUnavailableError"
    assert span.status.status_code.name == "ERROR"


def test_chain_fallback_between_claude_models(telemetry, api):
    api.failing.add("claude-opus-4-7")
    api.fail_status = 529
    client, _ = clients(api)
    with ld.request():
        try:
            create(client, "claude-opus-4-7")
        except anthropic.APIStatusError:
            create(client, "claude-haiku-4-5")
    failed, served = ours(telemetry)
    assert failed.attributes["error.type"] == "OverloadedError"
    a = served.attributes
    assert (a["llm_drift.fallback.active"], a["llm_drift.fallback.source"]) == (True, "chain")
    assert a["llm_drift.fallback.primary"] == "anthropic/claude-opus-4-7"
    assert a["llm_drift.fallback.reason"] == "OverloadedError"
    assert a["llm_drift.fallback.attempt"] == 1


def test_cross_provider_failover_openai_to_anthropic(telemetry, api):
    """The acceptance case: OpenAI's primary fails with 503, the app falls back to Claude in one logical request."""
    oa_provider = MockProvider(styles={"gpt-4o": "json_card"}, failing={"gpt-4o"})
    oa_client, _ = openai_clients(oa_provider)
    claude, _ = clients(api)
    with ld.prompt_variant("support-card-v3", tuned_for=["gpt-4o"]):
        with ld.request():
            try:
                oa_client.chat.completions.create(model="gpt-4o", messages=openai_messages())
            except openai.APIStatusError:
                claude.messages.create(model="claude-haiku-4-5", max_tokens=512, system=SYSTEM,
                                       messages=messages())
    failed, served = ours(telemetry)
    assert failed.attributes["gen_ai.provider.name"] == "openai"
    assert failed.attributes["error.type"] == "InternalServerError"
    a = served.attributes
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["llm_drift.fallback.active"] is True
    assert a["llm_drift.fallback.source"] == "chain"
    assert a["llm_drift.fallback.primary"] == "openai/gpt-4o"
    assert a["llm_drift.fallback.reason"] == "InternalServerError"
    assert a["llm_drift.fallback.attempt"] == 1
    assert a["llm_drift.serving.model"] == "claude-haiku-4-5-20251001"
    assert a["llm_drift.prompt.variant"] == "support-card-v3"
    assert a["llm_drift.prompt.mismatch"] is True
    assert telemetry.counter_total("llm_drift.fallbacks", **{
        "llm_drift.fallback.primary": "openai/gpt-4o", "llm_drift.fallback.source": "chain",
        "llm_drift.serving.model": "claude-haiku-4-5-20251001"}) == 1


def test_explicit_fallback_and_drift_after_warmup(telemetry, api):
    client, _ = clients(api)
    with ld.prompt_variant("support-card-v3"):
        for _ in range(5):  # warmup=5 in the fixture
            create(client)
        with ld.fallback(primary=f"anthropic/{PRIMARY}", reason="OverloadedError"):
            create(client, "claude-haiku-4-5")
        create(client)
    spans = ours(telemetry)
    fallback, primary = spans[5].attributes, spans[6].attributes
    assert (fallback["llm_drift.fallback.source"], fallback["llm_drift.fallback.primary"],
            fallback["llm_drift.fallback.reason"]) == ("explicit", f"anthropic/{PRIMARY}", "OverloadedError")
    assert fallback["gen_ai.prompt.name"] == "support-card-v3"
    assert fallback["llm_drift.shape.drifted"] is True
    assert primary["llm_drift.shape.drifted"] is False
    assert telemetry.counter_total("llm_drift.responses", **{"llm_drift.shape.drifted": "true",
                                                               "llm_drift.fallback.active": "true"}) == 1


def test_policy_fallback_from_primary_models(instrument_with, api):
    telemetry = instrument_with(primary_models=f"anthropic/{PRIMARY}")
    client, _ = clients(api)
    create(client)
    create(client, "claude-haiku-4-5")
    primary, other = ours(telemetry)
    assert primary.attributes["llm_drift.fallback.active"] is False  # a dated snapshot of the primary
    assert (other.attributes["llm_drift.fallback.source"], other.attributes["llm_drift.fallback.primary"]) == (
        "policy", f"anthropic/{PRIMARY}")


# ---- the SDK's own OpenTelemetry tracing ----

def _gen_ai_metric_counts(telemetry) -> tuple[int, dict[str, int]]:
    durations = sum(p.count for p in telemetry.metric_points("gen_ai.client.operation.duration"))
    tokens: dict[str, int] = {}
    for point in telemetry.metric_points("gen_ai.client.token.usage"):
        kind = dict(point.attributes)["gen_ai.token.type"]
        tokens[kind] = tokens.get(kind, 0) + point.count
    return durations, tokens


@pytest.mark.parametrize("sdk_tracing", ["on", "off_by_option", "off_by_env"])
@pytest.mark.parametrize("streamed", [False, True])
def test_sdk_tracing_on_or_off_one_drift_span_and_metrics_counted_once(telemetry, api, monkeypatch, sdk_tracing,
                                                                       streamed):
    """SDK tracing on: its `anthropic.messages.create` CLIENT span is a child of ours, carries no llm_drift.*
    attributes, and its context is what the request propagates. Off: ours alone. Metrics once either way."""
    if sdk_tracing == "off_by_env":
        monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
        client = anthropic.Anthropic(api_key="sk-ant-test-not-a-key", base_url=BASE_URL, max_retries=0,
                                     http_client=httpx2.Client(transport=api.transport()))
    else:
        client, _ = clients(api, sdk_tracer_provider=telemetry.tracer_provider if sdk_tracing == "on" else None)
    if streamed:
        with client.messages.stream(model=PRIMARY, max_tokens=512, system=SYSTEM, messages=messages()) as stream:
            stream.until_done()
    else:
        create(client)
    (mine,) = ours(telemetry)
    theirs = [s for s in telemetry.spans.get_finished_spans() if s.instrumentation_scope.name.startswith(SDK_SCOPE)]
    assert mine.attributes["llm_drift.shape.kind"] == "json"
    _, _, headers = api.requests[-1]
    if sdk_tracing == "on":
        (sdk_span,) = theirs
        assert sdk_span.name == "anthropic.messages.create"
        assert sdk_span.kind.name == "CLIENT"
        assert sdk_span.parent is not None and sdk_span.parent.span_id == mine.context.span_id
        assert sdk_span.context.trace_id == mine.context.trace_id
        assert not any(k.startswith("llm_drift.") for k in sdk_span.attributes)
        assert sdk_span.attributes["gen_ai.response.model"] == mine.attributes["llm_drift.serving.model"]
        trace_id, span_id = headers["traceparent"].split("-")[1:3]
        assert (int(trace_id, 16), int(span_id, 16)) == (mine.context.trace_id, sdk_span.context.span_id)
        assert sdk_span.end_time <= mine.end_time
    else:
        assert theirs == []
        assert "traceparent" not in headers
    durations, tokens = _gen_ai_metric_counts(telemetry)
    assert durations == 1
    assert tokens == {"input": 1, "output": 1}
    assert telemetry.counter_total("llm_drift.responses") == 1


def test_the_sdk_records_no_gen_ai_metrics_of_its_own():
    """Tripwire: were a later SDK to record gen_ai.client.* metrics, ours would count each call twice and the
    adapter would have to tell the runtime to skip its own (see the adapter's module docstring)."""
    package = Path(anthropic.__file__).parent
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if re.search(r"get_meter|create_histogram|gen_ai\.client\.", p.read_text(encoding="utf-8"))]
    assert offenders == []


# ---- never break the host application; never export content ----

def test_plugin_failure_never_reaches_the_app(telemetry, api, monkeypatch, caplog):
    import llm_drift_otel._runtime as runtime

    def boom(*args, **kwargs):
        raise RuntimeError("fingerprint exploded")

    monkeypatch.setattr(runtime, "fingerprint_output", boom)
    client, _ = clients(api)
    api.rng.seed(3)
    result = create(client)
    with client.messages.stream(model=PRIMARY, max_tokens=512, messages=messages()) as stream:
        streamed = stream.get_final_text()
    ld.uninstrument()
    api.rng.seed(3)
    bare = create(client)
    assert result.content[0].text == bare.content[0].text
    assert result.model == bare.model and type(result) is type(bare)
    assert streamed.startswith("{")
    assert sum("fingerprint failed" in r.getMessage() for r in caplog.records) == 1
    assert len(ours(telemetry)) == 2  # spans still end, without a shape


def test_no_prompt_or_output_text_is_exported_by_default(telemetry, api):
    client, _ = clients(api, sdk_tracer_provider=telemetry.tracer_provider)
    secret_user = "canary-user-text-7f3a"
    result = client.messages.create(model=PRIMARY, max_tokens=512, system=SYSTEM, messages=messages(secret_user))
    card = json.loads(result.content[0].text)
    output_words = [w for w in " ".join([card["title"], card["summary"], *card["actions"]]).split() if len(w) > 6]
    finished = telemetry.spans.get_finished_spans()
    exported = repr([dict(s.attributes) for s in finished]) + repr([s.events for s in finished])
    exported += repr(telemetry.reader.get_metrics_data().to_json())
    assert secret_user not in exported
    assert "support assistant" not in exported
    assert "sk-ant-test-not-a-key" not in exported
    assert output_words and not any(w in exported for w in output_words)


def test_content_capture_is_opt_in(instrument_with, api):
    telemetry = instrument_with(capture_content=True)
    client, _ = clients(api)
    result = create(client)
    captured = only_span(telemetry).attributes["gen_ai.output.messages"]
    assert result.content[0].text in captured.replace('\\"', '"')


def test_fingerprint_accepts_anthropic_message_objects(telemetry, api):
    client, _ = clients(api)
    message = create(client)
    shape = ld.fingerprint(message)
    assert shape.kind == "json"
    assert shape.id == only_span(telemetry).attributes["llm_drift.shape.id"]
