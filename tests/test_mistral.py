"""The Mistral adapter end to end: the real `mistralai` SDK over a mock transport, spans as exported."""

from __future__ import annotations

import gc
import re
import subprocess
import sys

import pytest
from mistralai.client import errors, models
from mistralai.client.utils.eventstreaming import EventStream, EventStreamAsync
from pydantic import BaseModel

import llm_drift_otel as ld
from mistral_bodies import TOOL, MistralAPI, messages

LARGE, SMALL = "mistral-large-latest", "mistral-small-latest"


@pytest.fixture
def api():
    return MistralAPI(styles={LARGE: "json_card", SMALL: "markdown_bullets"}, tool_models={"tool-model"}, seed=5)


def only_span(telemetry):
    spans = telemetry.llm_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def test_complete_span_carries_serving_model_variant_shape_and_usage(telemetry, api):
    result = api.clients().chat.complete(model=LARGE, messages=messages())
    assert isinstance(result, models.ChatCompletionResponse)
    span = only_span(telemetry)
    a = span.attributes
    assert span.name == f"chat {LARGE}" and span.kind.name == "CLIENT"
    assert a["gen_ai.provider.name"] == "mistral_ai"
    assert a["gen_ai.request.model"] == LARGE
    assert a["gen_ai.response.model"] == LARGE
    assert a["llm_drift.serving.model"] == LARGE
    assert a["llm_drift.model.substituted"] is False
    assert re.fullmatch(r"sys-[0-9a-f]{12}", a["llm_drift.prompt.variant"])
    assert a["llm_drift.shape.kind"] == "json"
    assert re.fullmatch(r"[0-9a-f]{16}", a["llm_drift.shape.id"])
    assert a["llm_drift.fallback.active"] is False
    assert a["gen_ai.response.id"] == "cmpl-e5cc70bb28c444948073e77776eb30ef"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == 37
    assert a["gen_ai.usage.output_tokens"] == result.usage.completion_tokens
    assert (a["server.address"], a["server.port"]) == ("127.0.0.1", 9)
    assert ld.fingerprint(result).id == a["llm_drift.shape.id"]


def test_serving_model_comes_from_the_response(telemetry, api):
    api.served[LARGE] = "mistral-large-2411"
    api.served[SMALL] = "open-mistral-nemo"
    client = api.clients()
    client.chat.complete(model=LARGE, messages=messages())
    client.chat.complete(model=SMALL, messages=messages())
    snapshot, other = (s.attributes for s in telemetry.llm_spans())
    assert snapshot["llm_drift.serving.model"] == "mistral-large-2411"
    assert snapshot["llm_drift.model.substituted"] is False  # a dated snapshot of the alias
    assert other["llm_drift.serving.model"] == "open-mistral-nemo"
    assert other["llm_drift.model.substituted"] is True


def test_markdown_answer_and_no_system_prompt(telemetry, api):
    api.clients().chat.complete(model=SMALL, messages=messages(system=None))
    a = only_span(telemetry).attributes
    assert a["llm_drift.shape.kind"] == "markdown"
    assert a["llm_drift.prompt.variant"] == "none"


def test_system_message_objects_and_named_variant(telemetry, api):
    client = api.clients()
    typed = [models.SystemMessage(content="Answer with one JSON card."), models.UserMessage(content="hi")]
    client.chat.complete(model=LARGE, messages=typed)
    client.chat.complete(model=LARGE, messages=messages(system="Answer with one JSON card."))
    with ld.prompt_variant("support-card-v3", tuned_for=[LARGE]):
        client.chat.complete(model=SMALL, messages=messages())
    typed_span, dict_span, named = (s.attributes for s in telemetry.llm_spans())
    assert typed_span["llm_drift.prompt.variant"] == dict_span["llm_drift.prompt.variant"]
    assert typed_span["llm_drift.prompt.variant"].startswith("sys-")
    assert named["llm_drift.prompt.variant"] == "support-card-v3"
    assert named["gen_ai.prompt.name"] == "support-card-v3"
    assert named["llm_drift.prompt.mismatch"] is True


def test_tool_call_answer_same_shape_streamed_or_not(telemetry, api):
    client = api.clients()
    result = client.chat.complete(model="tool-model", messages=messages(), tools=[TOOL])
    assert result.choices[0].message.tool_calls[0].function.name == "lookup_order"
    for _ in client.chat.stream(model="tool-model", messages=messages(), tools=[TOOL]):
        pass
    plain, streamed = (s.attributes for s in telemetry.llm_spans())
    assert plain["llm_drift.shape.kind"] == streamed["llm_drift.shape.kind"] == "tool_call"
    assert plain["llm_drift.shape.id"] == streamed["llm_drift.shape.id"]
    assert plain["gen_ai.response.finish_reasons"] == streamed["gen_ai.response.finish_reasons"] == ("tool_calls",)


async def test_complete_async(telemetry, api):
    result = await api.clients().chat.complete_async(model=LARGE, messages=messages())
    assert isinstance(result, models.ChatCompletionResponse)
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == LARGE
    assert a["llm_drift.shape.kind"] == "json"
    assert a["gen_ai.usage.input_tokens"] == 37


def test_stream_keeps_sdk_type_and_ends_span_on_exhaustion(telemetry, api):
    stream = api.clients().chat.stream(model=LARGE, messages=messages())
    assert isinstance(stream, EventStream)
    assert telemetry.llm_spans() == []  # open while the app reads
    text = "".join(e.data.choices[0].delta.content or "" for e in stream)
    assert text.startswith("{")
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == LARGE
    assert a["llm_drift.shape.kind"] == "json"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == 37 and a["gen_ai.usage.output_tokens"] > 0


def test_stream_shape_equals_complete_shape_of_same_text(telemetry):
    client = MistralAPI(styles={LARGE: "json_card"}, seed=1).clients()
    for _ in client.chat.stream(model=LARGE, messages=messages()):
        pass
    client = MistralAPI(styles={LARGE: "json_card"}, seed=1).clients()
    client.chat.complete(model=LARGE, messages=messages())
    streamed, plain = telemetry.llm_spans()
    assert streamed.attributes["llm_drift.shape.id"] == plain.attributes["llm_drift.shape.id"]


@pytest.mark.parametrize("how", ["with_exit", "close", "break_then_del", "gc_unread", "consumer_raises"])
def test_stream_span_ends_exactly_once_on_every_way_out(telemetry, api, how):
    stream = api.clients().chat.stream(model=LARGE, messages=messages())
    if how == "with_exit":
        with stream as s:
            assert isinstance(s, EventStream)
            next(s)
    elif how == "close":
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
    assert span.attributes["llm_drift.serving.model"] == LARGE
    assert "llm_drift.shape.kind" not in span.attributes  # a partial answer is not judged


def test_stream_read_to_the_end_inside_with(telemetry, api):
    with api.clients().chat.stream(model=SMALL, messages=messages()) as stream:
        chunks = list(stream)
    assert chunks[-1].data.choices[0].finish_reason == "stop"
    assert only_span(telemetry).attributes["llm_drift.shape.kind"] == "markdown"


async def test_stream_async_full_and_early_close(telemetry, api):
    client = api.clients()
    stream = await client.chat.stream_async(model=LARGE, messages=messages())
    assert isinstance(stream, EventStreamAsync)
    async for _ in stream:
        pass
    async with await client.chat.stream_async(model=LARGE, messages=messages()) as early:
        async for _ in early:
            break
    full, closed = telemetry.llm_spans()
    assert full.attributes["llm_drift.shape.kind"] == "json"
    assert full.attributes["gen_ai.usage.output_tokens"] > 0
    assert closed.end_time is not None and "llm_drift.shape.kind" not in closed.attributes


class Card(BaseModel):
    title: str
    summary: str
    actions: list[str]
    confidence: float


def test_parse_goes_through_complete_once(telemetry, api):
    parsed = api.clients().chat.parse(response_format=Card, model=LARGE, messages=messages())
    assert isinstance(parsed.choices[0].message.parsed, Card)
    a = only_span(telemetry).attributes
    assert a["gen_ai.output.type"] == "json"
    assert a["llm_drift.shape.kind"] == "json"


def test_sdk_error_is_reraised_unchanged_and_recorded(telemetry, api):
    api.failing.add(LARGE)
    with pytest.raises(errors.SDKError) as info:
        api.clients().chat.complete(model=LARGE, messages=messages())
    assert info.value.status_code == 503
    span = only_span(telemetry)
    assert span.attributes["error.type"] == "SDKError"
    assert span.status.status_code.name == "ERROR"


def test_stream_error_is_recorded(telemetry, api):
    api.failing.add(LARGE)
    with pytest.raises(errors.SDKError):
        api.clients().chat.stream(model=LARGE, messages=messages())
    assert only_span(telemetry).attributes["error.type"] == "SDKError"


def test_chain_fallback_after_rate_limit_inside_request(telemetry, api):
    api.failing.add(LARGE)
    api.fail_status = 429
    client = api.clients()
    with ld.request():
        try:
            client.chat.complete(model=LARGE, messages=messages())
        except errors.SDKError:
            stream = client.chat.stream(model=SMALL, messages=messages())
            for _ in stream:
                pass
    failed, served = telemetry.llm_spans()
    assert failed.attributes["error.type"] == "SDKError"
    a = served.attributes
    assert a["llm_drift.fallback.active"] is True
    assert a["llm_drift.fallback.source"] == "chain"
    assert a["llm_drift.fallback.primary"] == f"mistral_ai/{LARGE}"
    assert a["llm_drift.fallback.reason"] == "SDKError"
    assert a["llm_drift.fallback.attempt"] == 1
    assert telemetry.counter_total("llm_drift.fallbacks", **{"llm_drift.fallback.source": "chain"}) == 1


def test_explicit_fallback_is_judged_against_the_primary_baseline(telemetry, api):
    client = api.clients()
    for _ in range(5):  # warmup=5 in the fixture
        client.chat.complete(model=LARGE, messages=messages())
    with ld.fallback(primary=f"mistral_ai/{LARGE}", reason="Overloaded"):
        client.chat.complete(model=SMALL, messages=messages())
    a = telemetry.llm_spans()[-1].attributes
    assert (a["llm_drift.fallback.source"], a["llm_drift.fallback.primary"], a["llm_drift.fallback.reason"]) == (
        "explicit", f"mistral_ai/{LARGE}", "Overloaded")
    assert a["llm_drift.shape.kind"] == "markdown"
    assert a["llm_drift.shape.drifted"] is True
    assert a["llm_drift.baseline.samples"] == 5


def test_results_are_identical_with_and_without_instrumentation(telemetry):
    with_it = MistralAPI(styles={LARGE: "json_card"}, seed=3).clients().chat.complete(model=LARGE, messages=messages())
    ld.uninstrument()
    bare = MistralAPI(styles={LARGE: "json_card"}, seed=3).clients().chat.complete(model=LARGE, messages=messages())
    assert type(with_it) is type(bare)
    assert with_it.choices[0].message.content == bare.choices[0].message.content


def test_mistral_sdk_own_tracing_nests_under_our_span(telemetry, api):
    """mistralai >= 2 can emit its own GenAI span (opt-in telemetry): it becomes a child of ours."""
    from mistralai.extra.observability.telemetry import configure_telemetry

    client = api.clients()
    configure_telemetry(client, provider=telemetry.tracer_provider)
    client.chat.complete(model=LARGE, messages=messages())
    spans = telemetry.spans.get_finished_spans()
    ours = [s for s in spans if s.instrumentation_scope.name == "llm_drift_otel"]
    theirs = [s for s in spans if s.instrumentation_scope.name != "llm_drift_otel"]
    assert len(ours) == 1 and theirs
    assert all(s.parent is not None and s.parent.span_id == ours[0].context.span_id for s in theirs)
    assert ours[0].attributes["llm_drift.shape.kind"] == "json"


def test_instrumenting_before_the_sdk_is_imported_patches_it():
    """`mistralai` >= 2 is a namespace package: the patch must still happen on import."""
    code = (
        "import llm_drift_otel as ld; ld.instrument();"
        "from mistralai.client import Mistral; import mistralai.client.chat as chat;"
        "print(type(vars(chat.Chat)['complete']).__name__, type(vars(chat.Chat)['stream_async']).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["FunctionWrapper", "FunctionWrapper"]


def test_reasoning_model_thinking_is_not_part_of_the_answer_shape(telemetry):
    """Magistral answers with a `thinking` chunk before the text: only the text is the answer's shape."""
    def client(thinking: bool):
        return MistralAPI(styles={LARGE: "json_card"}, thinking_models={LARGE} if thinking else set(), seed=2).clients()

    plain = client(False).chat.complete(model=LARGE, messages=messages())
    reasoned = client(True).chat.complete(model=LARGE, messages=messages())
    assert isinstance(plain.choices[0].message.content, str)
    assert isinstance(reasoned.choices[0].message.content, list)
    for _ in client(True).chat.stream(model=LARGE, messages=messages()):
        pass
    ids = {s.attributes["llm_drift.shape.id"] for s in telemetry.llm_spans()}
    kinds = {s.attributes["llm_drift.shape.kind"] for s in telemetry.llm_spans()}
    assert len(ids) == 1 and kinds == {"json"}
