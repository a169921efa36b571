"""The OpenAI adapter end to end: the real SDK, real response bodies, spans and metrics as exported."""

from __future__ import annotations

import gc
import json
import re

import openai
import pytest
from pydantic import BaseModel

import llm_drift_otel as ld
from llm_drift_otel._mock_provider import MockProvider
from openai_helpers import clients, messages

STYLES = {"gpt-4o": "json_card", "gpt-4o-mini": "markdown_bullets", "fallback-model": "markdown_bullets"}


@pytest.fixture
def provider():
    return MockProvider(styles=dict(STYLES), seed=7)


def only_span(telemetry):
    spans = telemetry.llm_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def test_chat_create_span_carries_serving_model_variant_and_shape(telemetry, provider):
    client, _ = clients(provider)
    result = client.chat.completions.create(model="gpt-4o", messages=messages())
    assert isinstance(result, openai.types.chat.ChatCompletion)
    span = only_span(telemetry)
    a = span.attributes
    assert span.name == "chat gpt-4o"
    assert span.kind.name == "CLIENT"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o"
    assert a["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert a["llm_drift.serving.model"] == "gpt-4o-2024-08-06"
    assert a["llm_drift.model.substituted"] is False
    assert re.fullmatch(r"sys-[0-9a-f]{12}", a["llm_drift.prompt.variant"])
    assert a["llm_drift.fallback.active"] is False
    assert a["llm_drift.fallback.attempt"] == 0
    assert a["llm_drift.shape.kind"] == "json"
    assert re.fullmatch(r"[0-9a-f]{16}", a["llm_drift.shape.id"])
    assert a["llm_drift.baseline.samples"] == 0
    assert a["server.address"] == "127.0.0.1"
    assert a["gen_ai.usage.input_tokens"] == 42
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert "llm_drift.shape.drifted" not in a  # still warming up


def test_substitution_to_another_model_is_flagged_but_a_snapshot_is_not(telemetry, provider):
    provider.snapshots["gpt-4o"] = "gpt-4o-mini-2024-07-18"
    client, _ = clients(provider)
    client.chat.completions.create(model="gpt-4o", messages=messages())
    assert only_span(telemetry).attributes["llm_drift.model.substituted"] is True


def test_variant_survives_whitespace_edits_and_splits_on_real_edits(telemetry, provider):
    client, _ = clients(provider)
    base = "You are the support assistant.\nAnswer with one JSON card."
    for system in (base, "  You are the support   assistant.\n\n Answer with one JSON card.  ", base + " Be brief."):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "system", "content": system},
                                                                  {"role": "user", "content": "hi"}])
    v = [s.attributes["llm_drift.prompt.variant"] for s in telemetry.llm_spans()]
    assert v[0] == v[1] != v[2]


async def test_async_chat_create(telemetry, provider):
    _, client = clients(provider)
    result = await client.chat.completions.create(model="gpt-4o", messages=messages())
    assert isinstance(result, openai.types.chat.ChatCompletion)
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == "gpt-4o-2024-08-06"
    assert a["llm_drift.shape.kind"] == "json"


def test_stream_keeps_sdk_type_and_ends_span_on_exhaustion(telemetry, provider):
    client, _ = clients(provider)
    stream = client.chat.completions.create(model="gpt-4o", messages=messages(), stream=True,
                                            stream_options={"include_usage": True})
    assert isinstance(stream, openai.Stream)
    assert telemetry.llm_spans() == []  # open while the app reads
    text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
    assert text.startswith("{")
    a = only_span(telemetry).attributes
    assert a["llm_drift.serving.model"] == "gpt-4o-2024-08-06"
    assert a["llm_drift.shape.kind"] == "json"
    assert a["gen_ai.usage.output_tokens"] > 0


def test_stream_shape_equals_non_stream_shape_of_same_text(telemetry):
    provider = MockProvider(styles={"gpt-4o": "json_card"}, seed=1)
    client, _ = clients(provider)
    for _ in client.chat.completions.create(model="gpt-4o", messages=messages(), stream=True):
        pass
    provider._rng.seed(1)
    client.chat.completions.create(model="gpt-4o", messages=messages())
    s1, s2 = telemetry.llm_spans()
    assert s1.attributes["llm_drift.shape.id"] == s2.attributes["llm_drift.shape.id"]


@pytest.mark.parametrize("how", ["break_then_del", "close", "with_exit", "consumer_raises", "gc_unread"])
def test_stream_span_ends_exactly_once_on_every_way_out(telemetry, provider, how):
    client, _ = clients(provider)
    stream = client.chat.completions.create(model="gpt-4o", messages=messages(), stream=True)
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
            assert isinstance(s, openai.Stream)
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
    assert span.attributes["llm_drift.serving.model"] in ("gpt-4o-2024-08-06", "gpt-4o")
    # an unfinished stream is not judged: its partial text is not the model's shape
    assert "llm_drift.shape.kind" not in span.attributes


async def test_async_stream_full_and_early_close(telemetry, provider):
    _, client = clients(provider)
    stream = await client.chat.completions.create(model="gpt-4o", messages=messages(), stream=True)
    assert isinstance(stream, openai.AsyncStream)
    async for _ in stream:
        pass
    stream2 = await client.chat.completions.create(model="gpt-4o", messages=messages(), stream=True)
    async with stream2:
        async for _ in stream2:
            break
    spans = telemetry.llm_spans()
    assert len(spans) == 2
    assert spans[0].attributes["llm_drift.shape.kind"] == "json"
    assert "llm_drift.shape.kind" not in spans[1].attributes


def test_chat_stream_helper_goes_through_create(telemetry, provider):
    client, _ = clients(provider)
    with client.chat.completions.stream(model="gpt-4o", messages=messages()) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices[0].message.content.startswith("{")
    assert only_span(telemetry).attributes["llm_drift.shape.kind"] == "json"


class Card(BaseModel):
    title: str
    summary: str
    actions: list[str]
    confidence: float


def test_parse_with_pydantic_response_format(telemetry, provider):
    client, _ = clients(provider)
    result = client.chat.completions.parse(model="gpt-4o", messages=messages(), response_format=Card)
    assert isinstance(result.choices[0].message.parsed, Card)
    a = only_span(telemetry).attributes
    assert a["gen_ai.output.type"] == "json"
    assert a["llm_drift.shape.kind"] == "json"


def test_with_raw_response_still_works_and_is_judged(telemetry, provider):
    client, _ = clients(provider)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages())
    assert raw.headers["content-type"] == "application/json"
    completion = raw.parse()
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    a = only_span(telemetry).attributes
    assert a["llm_drift.shape.kind"] == "json"
    assert a["llm_drift.serving.model"] == "gpt-4o-2024-08-06"


def test_with_raw_response_stream_is_left_to_the_app(telemetry, provider):
    client, _ = clients(provider)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages(), stream=True)
    chunks = list(raw.parse())
    assert chunks and isinstance(chunks[0], openai.types.chat.ChatCompletionChunk)
    assert only_span(telemetry).end_time is not None


def test_with_streaming_response(telemetry, provider):
    client, _ = clients(provider)
    with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=messages()) as response:
        body = response.parse()
    assert isinstance(body, openai.types.chat.ChatCompletion)
    assert only_span(telemetry).end_time is not None


def test_responses_create_sync_async_and_stream(telemetry, provider):
    client, aclient = clients(provider)
    r = client.responses.create(model="gpt-4o", instructions="Answer as a JSON card.", input="hi")
    assert r.output_text.startswith("{")
    events = list(client.responses.create(model="gpt-4o", instructions="Answer as a JSON card.", input="hi",
                                          stream=True))
    assert events[-1].type == "response.completed"
    import asyncio

    asyncio.run(aclient.responses.create(model="gpt-4o", instructions="Answer as a JSON card.", input="hi"))
    spans = telemetry.llm_spans()
    assert len(spans) == 3
    variants = {s.attributes["llm_drift.prompt.variant"] for s in spans}
    assert len(variants) == 1 and variants.pop().startswith("sys-")
    for s in spans:
        assert s.attributes["llm_drift.shape.kind"] == "json"
        assert s.attributes["llm_drift.serving.model"] == "gpt-4o-2024-08-06"


def test_embeddings_span_has_serving_model_and_no_shape(telemetry, provider):
    client, _ = clients(provider)
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    span = only_span(telemetry)
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes["llm_drift.serving.model"] == "text-embedding-3-small"
    assert "llm_drift.shape.kind" not in span.attributes
    assert telemetry.counter_total("llm_drift.responses") == 0


def test_sdk_exception_is_reraised_unchanged_and_recorded(telemetry, provider):
    provider.failing.add("gpt-4o")
    client, _ = clients(provider)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4o", messages=messages())
    assert info.value.status_code == 503
    span = only_span(telemetry)
    assert span.attributes["error.type"] == "InternalServerError"
    assert span.status.status_code.name == "ERROR"


def _fail_then_fallback(client, telemetry, primary_model="gpt-4o", fallback_model="fallback-model"):
    try:
        client.chat.completions.create(model=primary_model, messages=messages())
    except openai.APIStatusError:
        client.chat.completions.create(model=fallback_model, messages=messages())
    return telemetry.llm_spans()


def test_chain_fallback_inside_request(telemetry, provider):
    provider.failing.add("gpt-4o")
    provider.fail_status = 429
    client, _ = clients(provider)
    with ld.request():
        failed, served = _fail_then_fallback(client, telemetry)
    assert failed.attributes["error.type"] == "RateLimitError"
    a = served.attributes
    assert a["llm_drift.fallback.active"] is True
    assert a["llm_drift.fallback.source"] == "chain"
    assert a["llm_drift.fallback.primary"] == "openai/gpt-4o"
    assert a["llm_drift.fallback.reason"] == "RateLimitError"
    assert a["llm_drift.fallback.attempt"] == 1
    assert telemetry.counter_total("llm_drift.fallbacks", **{"llm_drift.fallback.source": "chain"}) == 1


def test_chain_fallback_inside_a_parent_span_without_request(telemetry, provider):
    provider.failing.add("gpt-4o")
    client, _ = clients(provider)
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle /support"):
        _fail_then_fallback(client, telemetry)
    with tracer.start_as_current_span("another request"):  # a new parent span starts a new chain
        client.chat.completions.create(model="fallback-model", messages=messages())
    spans = telemetry.llm_spans()
    assert spans[1].attributes["llm_drift.fallback.source"] == "chain"
    assert spans[2].attributes["llm_drift.fallback.active"] is False


def test_retrying_the_same_model_is_not_fallback(telemetry, provider):
    provider.failing.add("gpt-4o")
    client, _ = clients(provider)
    with ld.request():
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="gpt-4o", messages=messages())
        provider.failing.clear()
        client.chat.completions.create(model="gpt-4o", messages=messages())
    assert telemetry.llm_spans()[1].attributes["llm_drift.fallback.active"] is False


def test_explicit_fallback_declaration(telemetry, provider):
    client, _ = clients(provider)
    with ld.fallback(primary="anthropic/claude-3-5-sonnet", reason="Overloaded"):
        client.chat.completions.create(model="fallback-model", messages=messages())
    a = only_span(telemetry).attributes
    assert (a["llm_drift.fallback.source"], a["llm_drift.fallback.primary"], a["llm_drift.fallback.reason"]) == (
        "explicit", "anthropic/claude-3-5-sonnet", "Overloaded")


def test_policy_fallback_from_primary_models(instrument_with, provider):
    telemetry = instrument_with(primary_models="openai/gpt-4o")
    client, _ = clients(provider)
    client.chat.completions.create(model="gpt-4o", messages=messages())
    client.chat.completions.create(model="fallback-model", messages=messages())
    primary, other = telemetry.llm_spans()
    assert primary.attributes["llm_drift.fallback.active"] is False  # a dated snapshot of a primary
    assert other.attributes["llm_drift.fallback.source"] == "policy"
    assert other.attributes["llm_drift.fallback.primary"] == "openai/gpt-4o"


def test_drift_is_judged_after_warmup_and_fallback_never_teaches_the_baseline(telemetry, provider):
    client, _ = clients(provider)
    for _ in range(5):  # warmup=5 in the fixture
        client.chat.completions.create(model="gpt-4o", messages=messages())
    with ld.fallback(primary="openai/gpt-4o"):
        for _ in range(10):
            client.chat.completions.create(model="fallback-model", messages=messages())
    client.chat.completions.create(model="gpt-4o", messages=messages())
    spans = telemetry.llm_spans()
    fallback_spans, last_primary = spans[5:15], spans[15]
    for s in fallback_spans:
        assert s.attributes["llm_drift.shape.kind"] == "markdown"
        assert s.attributes["llm_drift.shape.drifted"] is True
        assert s.attributes["llm_drift.shape.drift_score"] >= 0.5
        assert s.attributes["llm_drift.baseline.samples"] == 5
    assert last_primary.attributes["llm_drift.shape.drifted"] is False
    assert last_primary.attributes["llm_drift.shape.drift_score"] < 0.5
    assert telemetry.counter_total("llm_drift.responses", **{"llm_drift.shape.drifted": "true",
                                                               "llm_drift.fallback.active": "true"}) == 10
    assert telemetry.counter_total("llm_drift.responses") == 16


def test_prompt_variant_tuned_for_and_contract(telemetry, provider):
    client, _ = clients(provider)
    contract = ld.Contract(kind="json", json_keys=["title", "summary", "actions"])
    with ld.prompt_variant("support-card-v3", tuned_for=["gpt-4o"], contract=contract):
        client.chat.completions.create(model="gpt-4o", messages=messages())
        client.chat.completions.create(model="fallback-model", messages=messages())
    primary, other = telemetry.llm_spans()
    assert primary.attributes["gen_ai.prompt.name"] == "support-card-v3"
    assert primary.attributes["llm_drift.prompt.variant"] == "support-card-v3"
    assert primary.attributes["llm_drift.prompt.tuned_for"] == ("gpt-4o",)
    assert primary.attributes["llm_drift.prompt.mismatch"] is False
    assert primary.attributes["llm_drift.shape.contract_ok"] is True
    assert other.attributes["llm_drift.prompt.mismatch"] is True
    assert other.attributes["llm_drift.shape.contract_ok"] is False
    assert telemetry.counter_total("llm_drift.responses", **{"llm_drift.shape.contract_ok": "false"}) == 1


def test_shape_id_labels_are_capped_per_variant(instrument_with):
    telemetry = instrument_with(max_shapes_per_variant=2)
    provider = MockProvider(styles={"a": "json_card", "b": "markdown_bullets", "c": "prose"})
    client, _ = clients(provider)
    with ld.prompt_variant("v"):
        for model in ("a", "b", "c"):
            client.chat.completions.create(model=model, messages=messages())
    ids = {dict(p.attributes)["llm_drift.shape.id"] for p in telemetry.metric_points("llm_drift.responses")}
    assert len(ids) == 3 and "other" in ids


def test_plugin_failure_never_reaches_the_app(telemetry, provider, monkeypatch, caplog):
    import llm_drift_otel._runtime as runtime

    def boom(*args, **kwargs):
        raise RuntimeError("fingerprint exploded")

    monkeypatch.setattr(runtime, "fingerprint_output", boom)
    client, _ = clients(provider)
    provider._rng.seed(3)
    result = client.chat.completions.create(model="gpt-4o", messages=messages())
    stream_text = "".join(c.choices[0].delta.content or "" for c in
                          client.chat.completions.create(model="gpt-4o", messages=messages(), stream=True)
                          if c.choices)
    ld.uninstrument()
    provider._rng.seed(3)
    bare = client.chat.completions.create(model="gpt-4o", messages=messages())
    assert result.choices[0].message.content == bare.choices[0].message.content
    assert result.model == bare.model and type(result) is type(bare)
    assert stream_text.startswith("{")
    assert sum("fingerprint failed" in r.getMessage() for r in caplog.records) == 1
    assert len(telemetry.llm_spans()) == 2  # spans still end, without a shape


def test_no_prompt_or_output_text_is_exported_by_default(telemetry, provider):
    client, _ = clients(provider)
    secret_user = "canary-user-text-7f3a"
    result = client.chat.completions.create(model="gpt-4o", messages=messages(secret_user))
    card = json.loads(result.choices[0].message.content)
    # JSON key names may appear in the signature (SPEC); values never
    output_words = [w for w in " ".join([card["title"], card["summary"], *card["actions"]]).split() if len(w) > 6]
    exported = repr([dict(s.attributes) for s in telemetry.spans.get_finished_spans()])
    exported += repr([s.events for s in telemetry.spans.get_finished_spans()])
    exported += repr(telemetry.reader.get_metrics_data().to_json())
    assert secret_user not in exported
    assert "support assistant" not in exported  # the system prompt
    assert "sk-test-not-a-key" not in exported
    assert output_words and not any(w in exported for w in output_words)


def test_content_capture_is_opt_in(instrument_with, provider):
    telemetry = instrument_with(capture_content=True)
    client, _ = clients(provider)
    result = client.chat.completions.create(model="gpt-4o", messages=messages())
    captured = only_span(telemetry).attributes["gen_ai.output.messages"]
    assert result.choices[0].message.content in captured.replace('\\"', '"')


def test_operation_duration_and_token_usage_metrics(telemetry, provider):
    client, _ = clients(provider)
    client.chat.completions.create(model="gpt-4o", messages=messages())
    (duration,) = telemetry.metric_points("gen_ai.client.operation.duration")
    assert duration.count == 1 and dict(duration.attributes)["gen_ai.request.model"] == "gpt-4o"
    types = {dict(p.attributes)["gen_ai.token.type"] for p in telemetry.metric_points("gen_ai.client.token.usage")}
    assert types == {"input", "output"}


def test_metric_exemplars_point_at_the_call_span_not_its_parent(telemetry, provider):
    """A drifted bucket's exemplar must open the LLM call's own span (recorded after the span left the context)."""
    client, _ = clients(provider)
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request"):  # sampled parent: the default exemplar filter needs one
        for _ in range(6):  # warmup=5: the sixth call is judged and records a drift score
            client.chat.completions.create(model="gpt-4o", messages=messages())
    call_span_ids = {s.context.span_id for s in telemetry.llm_spans()}
    parent_id = telemetry.finished("handle request")[0].context.span_id
    data = telemetry.reader.get_metrics_data()  # one collection: exemplars are handed out once
    points = {m.name: m.data.data_points for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    for name in ("llm_drift.shape.drift_score", "gen_ai.client.operation.duration", "gen_ai.client.token.usage"):
        exemplars = [e for p in points[name] for e in p.exemplars]
        assert exemplars, name
        assert {e.span_id for e in exemplars} <= call_span_ids, name
        assert parent_id not in {e.span_id for e in exemplars}


def test_baseline_file_lets_a_fresh_replica_judge_at_once(tmp_path, instrument_with, provider):
    from llm_drift_otel._baseline import BaselineRegistry

    registry = BaselineRegistry(warmup=5)
    with ld.prompt_variant("support-card-v3"):
        for _ in range(8):
            registry.get("support-card-v3").learn(ld.fingerprint(provider.text_for("gpt-4o")))
    path = tmp_path / "baselines.json"
    registry.save(str(path))
    telemetry = instrument_with(baseline_file=str(path), warmup=5)
    client, _ = clients(provider)
    with ld.prompt_variant("support-card-v3"), ld.fallback(primary="openai/gpt-4o"):
        client.chat.completions.create(model="fallback-model", messages=messages())
    a = only_span(telemetry).attributes
    assert a["llm_drift.baseline.samples"] == 8
    assert a["llm_drift.shape.drifted"] is True


def test_corrupt_baseline_file_is_logged_and_ignored(tmp_path, instrument_with, provider, caplog):
    path = tmp_path / "baselines.json"
    path.write_text('{"format": "llm-drift-otel/baselines", "version": 1, "baselines": {"v": ')
    telemetry = instrument_with(baseline_file=str(path))
    client, _ = clients(provider)
    client.chat.completions.create(model="gpt-4o", messages=messages())
    assert only_span(telemetry).attributes["llm_drift.baseline.samples"] == 0
    assert sum("LLM_DRIFT_BASELINE_FILE" in r.getMessage() for r in caplog.records) == 1


def test_fingerprint_accepts_sdk_response_objects(telemetry, provider):
    client, _ = clients(provider)
    completion = client.chat.completions.create(model="gpt-4o", messages=messages())
    shape = ld.fingerprint(completion)
    assert shape.kind == "json"
    assert shape.id == only_span(telemetry).attributes["llm_drift.shape.id"]
    assert shape == ld.fingerprint(completion.choices[0].message.content)
