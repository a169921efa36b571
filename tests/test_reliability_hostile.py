"""Bad and hostile outputs: arbitrary unicode, lone surrogates, NUL bytes, 50 MB strings, JSON nested
100,000 deep, 1,000,000 keys, invalid JSON in fences, non-string content blocks, `None`.

- `ld.fingerprint` never raises on any of them, returns a well-formed Shape, within a stated time bound
  (TIME_BOUND per output, measured with large margins: these are reliability bounds, not benchmarks), and
  its memory (tracemalloc peak) is bounded by the scan cap (`LLM_DRIFT_MAX_SCAN_BYTES`): it does not grow
  with the output, and a smaller cap gives a smaller peak.
- The same outputs returned by a real SDK call (the mock answering the hostile body): the app gets what it
  gets uninstrumented, no stage of the plugin fails, the span carries a shape, and the instrumentation
  adds at most OVERHEAD_BOUND to the call.

Property-based parts use hypothesis with a modest `max_examples`, so the suite stays fast.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llm_drift_otel as ld
from llm_drift_otel._fingerprint import KINDS, ModelOutput, ToolCall
from llm_drift_otel._log import reset_reported
from provider_drivers import make, raised

CAP = 262144  # the default LLM_DRIFT_MAX_SCAN_BYTES
TIME_BOUND = 2.0  # seconds per fingerprint of any output below, whatever its size (measured: < 0.15 s)
MEMORY_BOUND = 40 * CAP  # tracemalloc peak of one fingerprint (measured: < 5 MB, i.e. < 20 x the cap)
OVERHEAD_BOUND = 1.5  # seconds the instrumentation may add to one SDK call returning a hostile body
MB = 1_000_000


def well_formed(shape) -> None:
    assert shape.kind in KINDS
    assert re.fullmatch(r"[0-9a-f]{16}", shape.id)
    assert isinstance(shape.signature, str) and len(shape.signature) <= 256
    assert isinstance(shape.length_bucket, int) and shape.length_bucket >= 0
    assert isinstance(shape.refusal, bool)
    assert all(isinstance(v, (int, float)) for v in shape.features.values())


def timed(output, **kwargs):
    started = time.perf_counter()
    shape = ld.fingerprint(output, **kwargs)
    return shape, time.perf_counter() - started


def peak_memory(output, **kwargs) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        ld.fingerprint(output, **kwargs)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def nested_list(depth: int):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def nested_dict(depth: int):
    value: dict = {}
    for _ in range(depth):
        value = {"k": value}
    return value


# ---- property-based: arbitrary text, JSON and junk ----

_SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
_STRUCTURE = st.sampled_from(["\x00", "`", "```", "```json\n", "{", "}", "[", "]", '"', ":", ",", "\n", "\n\n",
                              "#", "- ", "* ", "1. ", "|", "**", "> ", "\\", "\ufeff", "\u202e", "I can't"])
HOSTILE_TEXT = st.lists(st.one_of(st.text(alphabet=st.characters(codec=None, exclude_categories=())),
                                  _SURROGATES, _STRUCTURE), max_size=60).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=40)
JUNK = st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=200), JSON_VALUES,
                 st.builds(object), st.tuples(st.integers(), st.text()), st.sets(st.integers(), max_size=5))
HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYPOTHESIS
@given(HOSTILE_TEXT)
def test_any_text_gives_a_shape(text):
    shape, took = timed(text)
    well_formed(shape)
    assert took < TIME_BOUND
    assert ld.fingerprint(text).id == shape.id  # deterministic


@HYPOTHESIS
@given(JSON_VALUES, st.sampled_from(["{}", "```json\n{}\n```", "Here you go:\n```json\n{}\n```\nThanks",
                                     "```\n{}\n```", "{}}}}", "```json\n{}"]))
def test_any_json_bare_fenced_or_broken_gives_a_shape(value, frame):
    try:
        body = json.dumps(value)
    except ValueError:
        body = repr(value)
    for output in (value, frame.replace("{}", body), frame.replace("{}", body[: len(body) // 2])):
        shape, took = timed(output)
        well_formed(shape)
        assert took < TIME_BOUND


@HYPOTHESIS
@given(JUNK, st.one_of(st.none(), JUNK, st.lists(JUNK, max_size=4)))
def test_non_string_content_and_tool_calls_give_a_shape(text, tool_calls):
    """`ModelOutput` fields of the wrong types, as a misbehaving adapter or SDK could hand them over."""
    for output in (text, ModelOutput(text=text, tool_calls=tool_calls),
                   ModelOutput(text="", tool_calls=(ToolCall(name=text, arguments=tool_calls),))):
        shape, took = timed(output)
        well_formed(shape)
        assert took < TIME_BOUND


# ---- the giants, once each ----

GIANTS = {
    "50 MB ASCII prose": lambda: "All good here. " * (50 * MB // 15),
    "50 MB non-ASCII": lambda: "é漢🙂" * (50 * MB // 9),
    "50 MB of NUL": lambda: "\x00" * (50 * MB),
    "50 MB of lone surrogates": lambda: "\ud800\udfff" * (25 * MB),
    "50 MB bytes, invalid UTF-8": lambda: b"\xff\xfe" * (25 * MB),
    "50 MB markdown bullets": lambda: "- an item\n" * (5 * MB),
    "50 MB one JSON string": lambda: json.dumps({"body": "x" * (50 * MB)}),
    "JSON text nested 100,000 deep": lambda: "[" * 100_000 + "]" * 100_000,
    "JSON objects nested 100,000 deep": lambda: '{"a":' * 100_000 + "1" + "}" * 100_000,
    "list nested 100,000 deep (parsed)": lambda: nested_list(100_000),
    "dict nested 100,000 deep (parsed)": lambda: nested_dict(100_000),
    "1,000,000 keys (parsed)": lambda: {f"key_{i}": i for i in range(1_000_000)},
    "1,000,000 keys (JSON text)": lambda: json.dumps({f"key_{i}": i for i in range(1_000_000)}),
    "1,000,000 keys (fenced)": lambda: "```json\n" + json.dumps({f"key_{i}": i for i in range(1_000_000)}) + "\n```",
    "1,000,000-item list (parsed)": lambda: list(range(1_000_000)),
    "invalid JSON in fences": lambda: "```json\n{\"title\": \"a\", \"n\": [1, 2,, }\n```",
    "tool call with 50 MB of arguments": lambda: ModelOutput(text="", tool_calls=(
        ToolCall(name="lookup", arguments='{"q": "' + "y" * (50 * MB) + '"}'),)),
    "tool call with arguments nested 100,000 deep": lambda: ModelOutput(text="", tool_calls=(
        ToolCall(name="lookup", arguments="[" * 100_000 + "]" * 100_000),)),
    "None": lambda: None,
}


@pytest.fixture(scope="module", autouse=True)
def warm():
    ld.fingerprint(object())  # the first call of an unknown type imports the adapters: not the output's cost


@pytest.mark.parametrize("name", list(GIANTS))
def test_giant_and_hostile_outputs_bounded_in_time_and_memory(name):
    output = GIANTS[name]()
    shape, took = timed(output)
    well_formed(shape)
    peak = peak_memory(output)
    print(f"\n{name}: {took * 1000:.1f} ms, peak {peak / MB:.2f} MB, {shape.kind} {shape.signature[:40]!r}")
    assert took < TIME_BOUND
    assert peak < MEMORY_BOUND


def test_memory_follows_the_scan_cap_not_the_output():
    small, big = "- an item\n" * (MB // 10), "- an item\n" * (5 * MB)  # 1 MB and 50 MB of the same
    at_cap = peak_memory(small), peak_memory(big)
    assert at_cap[1] < at_cap[0] * 1.5 + 65536  # 50x the output, same peak
    low_cap = peak_memory(big, max_scan_bytes=16384)
    assert low_cap < at_cap[1] / 4  # a smaller cap, a smaller peak
    print(f"\npeak for 1 MB / 50 MB of bullets at the default cap: {at_cap[0] / MB:.2f} / {at_cap[1] / MB:.2f} MB; "
          f"50 MB with a 16 KB cap: {low_cap / MB:.3f} MB")


# ---- through real SDK calls: the mock answers the hostile body ----

SDK_BODIES = {  # made when the test runs, not at import: no 50 MB held for the whole session
    "50 MB text": lambda: dict(text="All good here. " * (50 * MB // 15)),
    "JSON nested 100,000 deep": lambda: dict(text="[" * 100_000 + "]" * 100_000),
    "1,000,000 keys": lambda: dict(text=json.dumps({f"key_{i}": i for i in range(1_000_000)})),
    "invalid JSON in fences": lambda: dict(text="```json\n{\"title\": \"a\",, }\n```"),
    "lone surrogates and NUL": lambda: dict(text="\ud800 ok \x00\x00 \udfff\ufeff\u202e"),
    "tool call, arguments nested deep": lambda: dict(tool=("lookup", {"q": nested_list(200)})),
    "tool call, surrogates and NUL in arguments": lambda: dict(tool=("lookup", {"q": "\ud800\x00" * 1000})),
}
# the giants through the two SDKs with both a plain and a streamed form read here; the small ones everywhere
SDK_CASES = [(body, driver) for body in SDK_BODIES
             for driver in (("openai", "anthropic") if body in ("50 MB text", "1,000,000 keys")
                            else ("openai", "anthropic", "google_genai", "mistral", "cohere", "bedrock"))]


def outcome(call):
    """What the app gets: the call's comparable result, or the SDK's own exception (type, status, message)."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - an SDK that cannot parse the body raises with or without us
        return raised(exc, getattr(exc, "status_code", None))


@pytest.fixture(scope="module")
def drivers():
    made = {}
    yield made
    for driver in made.values():
        driver.close()


@pytest.mark.parametrize("body,name", SDK_CASES)
def test_hostile_bodies_through_real_sdk_calls(body, name, drivers, instrument_with, caplog):
    driver = drivers.setdefault(name, make(name))
    script = SDK_BODIES[body]()
    driver.script.text, driver.script.tool = script.get("text"), script.get("tool")
    try:
        ld.uninstrument()
        started = time.perf_counter()
        reference = [outcome(driver.plain), outcome(driver.stream)]
        bare = time.perf_counter() - started
        telemetry = instrument_with(warmup=2)
        reset_reported()
        caplog.set_level(logging.WARNING)
        started = time.perf_counter()
        results = [outcome(driver.plain), outcome(driver.stream)]
        instrumented = time.perf_counter() - started
    finally:
        driver.script.text = driver.script.tool = None
    assert results == reference  # the same answer, or the SDK's own same exception
    assert [r.getMessage() for r in caplog.records if r.name == "llm_drift_otel" and r.levelno >= logging.WARNING] == []
    spans = telemetry.llm_spans()
    assert len(spans) == 2
    for span, result in zip(spans, results):  # a shape when the SDK gave an answer; error.type when it raised
        assert (span.attributes.get("llm_drift.shape.kind") in KINDS) if result[0] != "raised" else (
            span.attributes.get("error.type") == result[1].rsplit(".", 1)[-1])
    print(f"\n{body} via {name}: bare {bare:.2f} s, instrumented {instrumented:.2f} s (2 calls), "
          f"{[s.attributes.get('llm_drift.shape.kind') or s.attributes.get('error.type') for s in spans]}")
    assert instrumented - bare < 2 * OVERHEAD_BOUND


def _set(path: tuple, value):
    def hook(body):
        node = body
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return body

    return hook


# Content blocks that are not text, in each API's own vocabulary (and some in none): images, thinking,
# references, unknown block types, numbers and nulls where text goes.
NON_STRING_CONTENT = {
    "openai": _set(("choices", 0, "message", "content"), None),
    "anthropic": _set(("content",), [{"type": "thinking", "thinking": "...", "signature": "c2ln"},
                                     {"type": "mystery_block", "data": [1, None, {"x": 2}]},
                                     {"type": "text", "text": None}]),
    "google_genai": _set(("candidates", 0, "content", "parts"), [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"executableCode": {"language": "PYTHON", "code": "print(1)"}}, {"text": None}]),
    "mistral": _set(("choices", 0, "message", "content"), [
        {"type": "image_url", "image_url": "https://example.invalid/a.png"},
        {"type": "reference", "reference_ids": [1, 2]}, {"type": "mystery", "n": 3}]),
    "cohere": _set(("message", "content"), [{"type": "thinking", "thinking": "..."}, {"type": "mystery", "n": 1}]),
    "bedrock": _set(("output", "message", "content"), [
        {"reasoningContent": {"reasoningText": {"text": "...", "signature": "c2ln"}}},
        {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}, {"json": {"a": [1, None]}}]),
    "litellm": _set(("choices", 0, "message", "content"), [{"type": "text", "text": 5}, None]),
}


@pytest.mark.parametrize("name", list(NON_STRING_CONTENT))
def test_non_string_content_blocks_through_real_sdk_calls(name, drivers, instrument_with, caplog):
    driver = drivers.setdefault(name, make(name))
    driver.script.text, driver.script.body_hook = "", NON_STRING_CONTENT[name]
    try:
        ld.uninstrument()
        reference = [outcome(driver.plain) for _ in range(2)]
        telemetry = instrument_with(warmup=2)
        reset_reported()
        caplog.set_level(logging.WARNING)
        results = [outcome(driver.plain) for _ in range(2)]
    finally:
        driver.script.text, driver.script.body_hook = None, None
    assert results == reference
    assert [r.getMessage() for r in caplog.records if r.name == "llm_drift_otel" and r.levelno >= logging.WARNING] == []
    spans = telemetry.llm_spans()
    assert len(spans) == 2
    print(f"\nnon-string content via {name}: app got {results[0][:2]}..., spans "
          f"{[s.attributes.get('llm_drift.shape.kind') or s.attributes.get('error.type') for s in spans]}")
