"""Output-shape fingerprint: kinds, value-invariant ids, content-free signatures, bounded cost.

The fingerprint runs on every LLM call, so besides "same structure -> same id, other structure
-> other id" these tests pin down that it never raises on hostile input and that its cost is
bounded by LLM_DRIFT_MAX_SCAN_BYTES whatever the output's size or nesting.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_drift_otel._fingerprint import (
    DEFAULT_MAX_SCAN_BYTES,
    FEATURE_NAMES,
    KINDS,
    ModelOutput,
    Shape,
    ToolCall,
    extract_json,
    fingerprint_output,
)

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
HEX16 = re.compile(r"[0-9a-f]{16}")


def fp(output, **kwargs) -> Shape:
    return fingerprint_output(output, **kwargs)


def corpus_dir() -> Path:
    env = os.environ.get("LLM_DRIFT_CORPUS")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def corpus_rows(folder: str, model: str) -> list[dict]:
    path = corpus_dir() / folder / f"{model}.jsonl"
    if not path.is_file():
        pytest.skip(f"corpus not found at {corpus_dir()}: these tests need the shared multi-model corpus")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def assert_well_formed(shape: Shape) -> None:
    assert shape.kind in KINDS
    assert HEX16.fullmatch(shape.id), shape.id
    assert isinstance(shape.signature, str) and 0 < len(shape.signature) <= 256
    assert isinstance(shape.length_bucket, int) and shape.length_bucket >= 0
    assert shape.refusal is (shape.kind == "refusal")
    assert tuple(shape.features) == FEATURE_NAMES
    assert all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in shape.features.values())
    assert shape.signature != "prose:unreadable"  # the last-resort fallback: the classifier raised


# --------------------------------------------------------------------------------------------
# kinds


@pytest.mark.parametrize(
    "output, kind",
    [
        (None, "empty"),
        ("", "empty"),
        ("  \n\t ", "empty"),
        (ModelOutput(), "empty"),
        ('{"answer": "yes", "score": 3}', "json"),
        ('[{"a": 1}, {"a": 2}]', "json"),
        ('```json\n{"answer": "yes"}\n```', "json"),
        ({"answer": "yes"}, "json"),
        ([1, 2, 3], "json"),
        ("# Title\n\nSome words here.\n\n- one\n- two\n", "markdown"),
        ("Plain words **with bold** in a sentence.", "markdown"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "markdown"),
        ("The answer is forty-two. It follows from the premises.\n\nA second paragraph.", "prose"),
        ("```python\ndef add(a, b):\n    return a + b\n```", "code"),
        ("import os\n\ndef main():\n    print(os.getcwd())\n\nmain()\n", "code"),
        ("Sorry, but I can't assist with that.", "refusal"),
        (ModelOutput(text="", refusal=True), "refusal"),
        (ModelOutput(text="Here you go", refusal=True), "refusal"),
        (ModelOutput(tool_calls=(ToolCall("get_weather", '{"city": "Paris"}'),)), "tool_call"),
    ],
)
def test_kinds(output, kind):
    shape = fp(output)
    assert shape.kind == kind, shape
    assert_well_formed(shape)


def test_empty_and_refusal_signatures_are_fixed():
    assert fp(None).id == fp("").id == fp("   ").id == fp(ModelOutput()).id
    assert fp("Sorry, but I can't assist with that.").id == fp(ModelOutput("x", refusal=True)).id
    assert fp(None).refusal is False and fp(ModelOutput(refusal=True)).refusal is True


def test_length_bucket_is_log2_of_the_full_length():
    for n in (0, 1, 2, 3, 7, 8, 1000, 2**20):
        assert fp("a" * n).length_bucket == int(math.log2(n + 1))


def test_to_dict_is_plain_and_json_serialisable():
    shape = fp("# Title\n\n- a\n- b\n")
    data = shape.to_dict()
    assert set(data) == {"kind", "id", "signature", "length_bucket", "refusal", "features"}
    assert type(data["features"]) is dict and list(data["features"]) == list(FEATURE_NAMES)
    assert json.loads(json.dumps(data)) == data


def test_shape_is_frozen_and_features_read_only():
    shape = fp("hello")
    with pytest.raises(Exception):
        shape.kind = "json"  # type: ignore[misc]
    with pytest.raises(TypeError):
        shape.features["chars"] = 1.0  # type: ignore[index]


# --------------------------------------------------------------------------------------------
# JSON: value-invariant, structure-sensitive

BASE = {"name": "Ada", "age": 36, "tags": ["math", "poetry"], "address": {"city": "London", "zip": "N1"},
        "jobs": [{"title": "analyst", "years": 10}, {"title": "writer", "years": 2}], "active": True,
        "manager": None}


def test_json_signature_is_a_typed_key_skeleton():
    assert fp(BASE).signature == (
        "json:{active:bool,address:{city:str,zip:str},age:num,jobs:[{title:str,years:num}],"
        "manager:null,name:str,tags:[str]}"
    )


def test_json_other_values_and_other_array_lengths_same_id():
    other = {"name": "Grace", "age": 85.5, "tags": ["navy"] * 9, "address": {"city": "NYC", "zip": "10001"},
             "jobs": [{"title": "admiral", "years": 43}], "active": False, "manager": None}
    reordered = dict(reversed(list(BASE.items())))
    ids = {fp(BASE).id, fp(other).id, fp(reordered).id, fp(json.dumps(other)).id,
           fp(json.dumps(BASE, indent=2)).id}
    assert len(ids) == 1


@pytest.mark.parametrize("length", [1, 2, 5, 63, 64, 65, 1000])
def test_json_array_length_does_not_change_the_id(length):
    reference = fp({"items": [{"id": 0, "label": "x"}]}).id
    doc = {"items": [{"id": i, "label": f"item {i}"} for i in range(length)]}
    assert fp(doc).id == reference
    assert fp(json.dumps(doc)).id == reference


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(fullname=d.pop("name")),                      # key renamed
        lambda d: d.pop("age"),                                          # key missing
        lambda d: d.update(extra=1),                                     # key added
        lambda d: d.update(age="36"),                                    # number -> string
        lambda d: d.update(tags="math, poetry"),                         # array -> string
        lambda d: d["address"].pop("zip"),                               # nested key missing
        lambda d: d["jobs"][0].update(years="ten"),                      # type change in array element
        lambda d: d.update(jobs=[{"title": "analyst"}]),                 # element keys differ
        lambda d: d.update(active=1),                                    # bool -> number
    ],
)
def test_json_structure_changes_change_the_id(change):
    changed = json.loads(json.dumps(BASE))
    change(changed)
    assert fp(changed).id != fp(BASE).id
    assert fp(json.dumps(changed)).id != fp(json.dumps(BASE)).id


def test_fenced_json_differs_from_bare_json_and_is_recorded():
    bare = fp('{"a": 1}')
    fenced = fp('```json\n{"a": 1}\n```')
    untagged = fp('```\n{"a": 1}\n```')
    with_text = fp('Here is the result:\n```json\n{"a": 1}\n```')
    assert {bare.kind, fenced.kind, untagged.kind, with_text.kind} == {"json"}
    assert bare.id != fenced.id != with_text.id
    assert fenced.id == untagged.id
    assert "fence" in fenced.signature and "fence" not in bare.signature
    assert fp('```json\n{"a": 99}\n```').id == fenced.id


def test_json_inside_a_longer_answer_is_not_json():
    text = "Here is the JSON:\n```json\n{\"a\": 1}\n```\n" + "It works because of many reasons. " * 30
    assert fp(text).kind == "markdown"
    assert extract_json(text) == (False, None)


def test_extract_json():
    assert extract_json('{"a": [1, 2]}') == (True, {"a": [1, 2]})
    assert extract_json('  [1, 2] \n') == (True, [1, 2])
    assert extract_json('```json\n{"a": 1}\n```') == (True, {"a": 1})
    assert extract_json('Sure!\n```json\n{"a": 1}\n```\nDone.') == (True, {"a": 1})
    for text in ("42", '"a string"', "true", "{bad json}", "```json\n{bad}\n```", "no json here",
                 '```json\n{"a": 1}\n```\n```json\n{"b": 2}\n```', "", '{"a": 1', None, 42):
        assert extract_json(text) == (False, None), text
    assert extract_json('{"a": "' + "x" * 5000 + '"}', max_scan_bytes=1000) == (False, None)


def test_json_depth_and_width_are_bounded():
    deep = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": 1}}}}}}}}}}
    shape = fp(deep)
    assert "…" in shape.signature and "i:" not in shape.signature
    wide = fp({f"key{i}": i for i in range(500)})
    assert wide.signature.endswith("…") and len(wide.signature) == 256
    # past 64 keys an object is a map, not a record: more entries do not make another shape
    assert fp({f"key{i}": i for i in range(5000)}).id == wide.id
    assert fp({f"key{i}": i for i in range(64)}).id != wide.id


def test_odd_keys_cannot_fake_structure():
    assert fp({"a:num,b": 1}).id != fp({"a": 1, "b": 1}).id
    assert fp({"x}": 1}).signature.count("{") == 1


# --------------------------------------------------------------------------------------------
# hash_keys


def test_hash_keys_leaves_no_key_text_in_the_signature():
    doc = {"customer_email": "a@b.c", "refund_amount": 12.5, "items": [{"sku_code": "X"}]}
    hashed = fp(doc, hash_keys=True)
    for key in ("customer_email", "refund_amount", "items", "sku_code", "customer", "email", "sku"):
        assert key not in hashed.signature
    labels = re.findall(r"([^{},\[\]|:]+):", hashed.signature[len("json:"):])
    assert len(labels) == 4 and all(re.fullmatch(r"#[0-9a-f]{6}", label) for label in labels), labels
    assert hashed.id != fp(doc).id
    assert fp({"customer_email": "z", "refund_amount": 1, "items": []}, hash_keys=True).id != hashed.id
    assert fp({"customer_email": "z", "refund_amount": 1, "items": [{"sku_code": "Y"}] * 3},
              hash_keys=True).id == hashed.id
    call = ModelOutput(tool_calls=(ToolCall("lookup", {"order_number": 1}),))
    assert "order_number" not in fp(call, hash_keys=True).signature
    assert "lookup" in fp(call, hash_keys=True).signature  # tool names are not hashed


# --------------------------------------------------------------------------------------------
# markdown layout


def bullets(n: int) -> str:
    return "Intro line.\n\n" + "".join(f"- point number {i}\n" for i in range(n)) + "\nOutro."


def test_three_or_four_bullets_same_id_but_not_ten():
    assert fp(bullets(3)).id == fp(bullets(4)).id
    assert fp(bullets(3)).id != fp(bullets(10)).id
    assert fp(bullets(1)).id != fp(bullets(3)).id


def test_markdown_layout_changes_change_the_id():
    table = "Results:\n\n| name | score |\n|---|---|\n| a | 1 |\n| b | 2 |\n\nDone."
    as_bullets = "Results:\n\n- a: 1\n- b: 2\n\nDone."
    numbered = "Results:\n\n1. a: 1\n2. b: 2\n\nDone."
    with_heading = "## Results\n\n- a: 1\n- b: 2\n\nDone."
    ids = {fp(t).id for t in (table, as_bullets, numbered, with_heading, '{"a": 1, "b": 2}')}
    assert len(ids) == 5
    assert "tbl" in fp(table).signature


def test_markdown_words_do_not_change_the_id():
    one = "# Setup\n\nInstall the **tool** first.\n\n1. Download it\n2. Run it\n3. Check it\n\n> note\n"
    two = "# Usage\n\nCall the **api** now please.\n\n1. Open a shell\n2. Type things\n\n> careful\n"
    assert fp(one).id == fp(two).id
    assert fp(one).signature == "md:h1,p,ol2-4,q"


def test_repeated_sections_are_folded_so_section_count_is_bucketed():
    def sections(n: int) -> str:
        return "Overview.\n\n" + "".join(f"### Part {i}\n\nText.\n\n- a\n- b\n\n" for i in range(n))
    assert fp(sections(2)).id == fp(sections(3)).id == fp(sections(4)).id
    assert fp(sections(2)).id != fp(sections(6)).id
    assert "(h3,p,ul2-4)*2-4" in fp(sections(3)).signature


def test_nested_lists_and_fences_are_part_of_the_layout():
    nested = "1. first\n   - detail\n2. second\n   - detail\n"
    flat = "1. first\n2. second\n"
    assert fp(nested).id != fp(flat).id
    assert fp(nested).signature == "md:ol2-4>ul"
    md_code = "Run this:\n\n```bash\nls -la\n```\n\nThen check the output carefully, line by line, twice.\n" * 1
    assert "fence" in fp(md_code).signature


def test_markdown_features():
    text = ("# Title\n\nSome **bold** and *italic* and `code` and a [link](https://x.y).\n\n"
            "- a\n- b\n\n1. c\n2. d\n3. e\n\n| h1 | h2 | h3 |\n|---|---|---|\n| 1 | 2 | 3 |\n\n"
            "> quote\n\n```\nx = 1\n```\n\nI think you can do it! Really? 🎉")
    f = fp(text).features
    assert (f["headings"], f["bullets"], f["numbered_items"], f["tables"], f["table_rows"]) == (1, 2, 3, 1, 2)
    assert (f["bold"], f["italic"], f["inline_code"], f["links"], f["code_fences"]) == (1, 1, 1, 1, 1)
    assert (f["blockquotes"], f["exclamations"], f["questions"], f["emoji"]) == (1, 1, 1, 1)
    assert f["first_person"] > 0 and f["second_person"] > 0 and f["json"] == 0
    assert f["chars"] == len(text) and f["words"] > 20 and f["avg_sentence_len"] > 0


def test_signature_has_no_words_from_the_text():
    text = ("# Quarterly Zanzibar Report\n\nThe **zanzibar** figures rose.\n\n- alpha-omega\n- secret-token\n\n"
            "| zanzibar | value |\n|---|---|\n| x | 1 |\n\n```python\nzanzibar = 1\n```\n")
    signature = fp(text).signature
    for word in ("zanzibar", "Zanzibar", "alpha", "secret", "python", "value", "Quarterly", "figures"):
        assert word not in signature


STRUCTURAL_TOKENS = re.compile(
    r"^(?:md|prose|code|bare|fence|refusal|empty|undecodable|invalid|json|p|ul|ol|tbl|q|hr|h)$"
)


def test_signatures_of_real_answers_are_content_free():
    """Every non-JSON signature of 500 real answers is made of structural tokens only."""
    for row in corpus_rows("arena_hard_v0.1", "gpt-4o-2024-08-06"):
        shape = fp(row["output"])
        assert_well_formed(shape)
        if shape.kind in ("json", "tool_call"):
            continue
        for token in re.findall(r"[A-Za-z]+", shape.signature):
            assert STRUCTURAL_TOKENS.match(token), (token, shape.signature)


def test_corpus_style_markers_match_the_documented_model_habits():
    """README facts (Arena-Hard): gpt-4o uses headings in ~58% of answers and bold in 83%,
    claude almost never, gemini bolds 96%. The features must see the same habits."""
    def share(model: str, feature: str) -> float:
        rows = corpus_rows("arena_hard_v0.1", model)
        return sum(fp(r["output"]).features[feature] > 0 for r in rows) / len(rows)

    assert 0.45 <= share("gpt-4o-2024-08-06", "headings") <= 0.75
    assert share("claude-3-5-sonnet-20240620", "headings") <= 0.05
    assert share("gpt-4o-2024-08-06", "bold") >= 0.70
    assert share("claude-3-5-sonnet-20240620", "bold") <= 0.05
    assert share("gemini-1.5-pro-api-0514", "bold") >= 0.85


def test_fallback_model_of_another_family_answers_in_other_shapes():
    """On the same prompts, gpt-4o-mini's answers share shape ids with gpt-4o far more often
    than claude's do: the fingerprint sees structure, and structure differs by family."""
    def ids(model: str) -> dict:
        return {r["prompt_id"]: fp(r["output"]).id for r in corpus_rows("arena_hard_v0.1", model)}

    gpt4o, mini, claude = ids("gpt-4o-2024-08-06"), ids("gpt-4o-mini-2024-07-18"), ids("claude-3-5-sonnet-20240620")
    same_family = sum(mini.get(p) == i for p, i in gpt4o.items())
    other_family = sum(claude.get(p) == i for p, i in gpt4o.items())
    assert same_family > 2 * other_family


# --------------------------------------------------------------------------------------------
# tool calls


def tool(*calls: tuple, text: str = "") -> ModelOutput:
    return ModelOutput(text=text, tool_calls=tuple(ToolCall(name, args) for name, args in calls))


def test_tool_call_signature_is_names_and_typed_argument_keys():
    shape = fp(tool(("get_weather", '{"city": "Paris", "days": 3}')))
    assert shape.signature == "tool:get_weather({city:str,days:num})"
    assert "Paris" not in shape.signature


def test_tool_call_values_do_not_matter_but_skeletons_do():
    base = fp(tool(("get_weather", '{"city": "Paris", "days": 3}'))).id
    assert fp(tool(("get_weather", {"city": "Oslo", "days": 10}))).id == base
    assert fp(tool(("get_weather", '{"days": 1, "city": "Rome"}'))).id == base
    assert fp(tool(("get_weather", '{"city": "Paris"}'))).id != base                       # key missing
    assert fp(tool(("get_weather", '{"city": "Paris", "days": "3"}'))).id != base          # type changed
    assert fp(tool(("get_forecast", '{"city": "Paris", "days": 3}'))).id != base           # other tool
    assert fp(tool(("get_weather", '{"city": "Paris", "days": 3}'), text="Let me check.")).id != base
    two = fp(tool(("a", "{}"), ("b", None)))
    assert two.id == fp(tool(("b", ""), ("a", {}))).id  # order of calls does not matter
    assert fp(tool(("get_weather", "{not json"))).signature == "tool:get_weather(?)"
    assert two.features["tool_calls"] == 2


# --------------------------------------------------------------------------------------------
# hostile input: never raises, bounded


@pytest.mark.parametrize(
    "output",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        "```json\n" + "[" * 50_000 + "]" * 50_000 + "\n```",
        "a\x00b\x00{\x00",
        "\x00" * 10,
        "lone \ud800 surrogate \udfff",
        '{"k\ud800": "v\udc00"}',
        b"\xff\xfe\x00 not utf-8 \xc3\x28",
        b'{"a": 1}',
        bytearray(b"# heading\n\n- x"),
        memoryview(b"plain"),
        ModelOutput(text=123),  # type: ignore[arg-type]
        ModelOutput(text=None),  # type: ignore[arg-type]
        ModelOutput(tool_calls=[{"name": "x", "arguments": '{"a": 1}'}, object(), None]),  # type: ignore[arg-type]
        ModelOutput(tool_calls=(ToolCall(None, b"\xff"), ToolCall("x", 3))),  # type: ignore[arg-type]
        {1: "int key", None: "none key", (1, 2): "tuple key"},
        {"a": object(), "b": {1, 2}, "c": 1 + 2j},
        [float("nan"), float("inf")],
        {"huge": 10**5000, 10**5000: "huge key"},
        ModelOutput(tool_calls=(ToolCall("deep", "[" * 10_000 + "]" * 10_000), ToolCall("b", b"\xff" * 10))),
        12345,
        object(),
    ],
)
def test_malformed_input_never_raises(output):
    shape = fp(output)
    assert_well_formed(shape)


def test_invalid_json_is_prose_not_json():
    for text in ("```json\n{\"a\": 1,,}\n```", '{"a": 1', '[{"a": 1}, {"b"', "```json\n{\"a\": 1}"):
        shape = fp(text)
        assert shape.kind == "prose" and "invalid-json" in shape.signature, text


def test_invalid_utf8_is_prose():
    shape = fp(b"\xff\xfe caf\xe9 ")
    assert shape.kind == "prose"


def test_self_referencing_structures_are_bounded():
    loop: list = []
    loop.append(loop)
    cyclic: dict = {}
    cyclic["self"] = cyclic
    assert_well_formed(fp(loop))
    assert_well_formed(fp(cyclic))


def test_one_million_keys_and_huge_arrays_stay_bounded():
    huge = {f"k{i}": i for i in range(1_000_000)}
    started = time.perf_counter()
    shape = fp(huge)
    assert time.perf_counter() - started < 0.5
    assert shape.kind == "json" and len(shape.signature) <= 256
    started = time.perf_counter()
    assert fp({"items": list(range(1_000_000))}).signature == "json:{items:[num]}"
    assert time.perf_counter() - started < 0.5
    text = json.dumps({f"k{i}": i for i in range(100_000)})  # 1.5 MB: past the scan cap
    started = time.perf_counter()
    shape = fp(text)
    assert time.perf_counter() - started < 0.5
    assert shape.kind == "json" and shape.signature == "json[cut]:{…}"


def test_scan_cap_is_respected():
    head = "Intro paragraph.\n\n"
    text = head + "x" * 5000 + "\n\n# A heading far away\n\n- item\n- item\n"
    assert fp(text).features["headings"] == 1
    capped = fp(text, max_scan_bytes=1000)
    assert capped.features["headings"] == 0
    assert capped.length_bucket == fp(text).length_bucket == int(math.log2(len(text) + 1))
    assert capped.features["chars"] == len(text)
    assert fp('{"a": "' + "x" * 2000 + '"}', max_scan_bytes=500).signature == "json[cut]:{…}"
    # the cap is in bytes: multi-byte characters are cut on a character boundary
    assert_well_formed(fp("é" * 1000, max_scan_bytes=1001))
    assert fp("é" * 1000, max_scan_bytes=1001).features["chars"] == 1000


def test_huge_outputs_cost_the_same_as_the_cap():
    def timed(output) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            fp(output)
            best = min(best, time.perf_counter() - started)
        return best

    fifty_mb = "word " * 10_000_000
    elapsed = timed(fifty_mb)
    assert elapsed < 0.25, elapsed  # well under a second: only the first 256 KiB are read
    assert timed(fifty_mb) < 5 * timed("word " * 60_000) + 0.01  # flat past the cap
    assert fp(fifty_mb).length_bucket == int(math.log2(len(fifty_mb) + 1))
    raw = ("é" * 25_000_000).encode()  # 50 MB of bytes
    assert timed(raw) < 0.25
    assert fp(raw).length_bucket == int(math.log2(25_000_000 + 1))


def test_default_scan_cap_matches_the_spec():
    assert DEFAULT_MAX_SCAN_BYTES == 262144


# --------------------------------------------------------------------------------------------
# properties

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5),
    max_leaves=25,
)
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=400)
MARKDOWNISH = st.lists(
    st.sampled_from(["# ", "## ", "- ", "* ", "1. ", "| a | b |", "|---|---|", "```", "```json", "> ", "**",
                     "*", "_", "`", "---", "===", "{", "}", "[", "]", '"k": ', "1", "\n", "\n\n", "   ",
                     "I can't help with that.", "Sorry, ", "word ", "\x00", "\ud800", "é", "🎉"])
    | ANY_TEXT,
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(ANY_TEXT, MARKDOWNISH, st.binary(max_size=300), JSON_VALUES))
def test_arbitrary_input_never_raises_and_is_well_formed(output):
    shape = fp(output)
    assert_well_formed(shape)
    assert fp(output).id == shape.id  # deterministic


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.lists(JSON_VALUES, max_size=5), st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=6)))
def test_parsed_json_and_its_text_have_the_same_shape(value):
    text = json.dumps(value)
    assert fp(value).signature == fp(text).signature
    assert fp(value).id == fp(text).id == fp(json.dumps(value, indent=2)).id


def _revalue(value, draw):
    """Same structure, other values (types kept), arrays padded with copies of their elements."""
    if isinstance(value, bool):
        return draw(st.booleans())
    if isinstance(value, (int, float)):
        return draw(st.integers() | st.floats(allow_nan=False, allow_infinity=False))
    if isinstance(value, str):
        return draw(st.text(max_size=10))
    if isinstance(value, dict):
        return {k: _revalue(v, draw) for k, v in value.items()}
    if isinstance(value, list):
        items = [_revalue(v, draw) for v in value]
        if value:
            items += [_revalue(value[i % len(value)], draw) for i in range(draw(st.integers(0, 4)))]
        return items
    return value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_other_values_same_structure_same_id(data):
    value = data.draw(st.dictionaries(st.text(max_size=6), JSON_VALUES, min_size=1, max_size=6))
    other = _revalue(value, data.draw)
    assert fp(other).id == fp(value).id
    assert fp(json.dumps(other)).id == fp(json.dumps(value)).id


# --------------------------------------------------------------------------------------------
# stable ids across processes; purity


def test_ids_are_stable_across_processes_and_hash_seeds():
    samples = ['{"a": [1, {"b": "x"}]}', "# T\n\n- a\n- b\n", "plain prose here."]
    expected = [fp(s).id for s in samples]
    code = (
        "import json, sys, types; sys.path.insert(0, sys.argv[1]);"
        "pkg = types.ModuleType('llm_drift_otel'); pkg.__path__ = [sys.argv[1] + '/llm_drift_otel'];"
        "sys.modules['llm_drift_otel'] = pkg;"
        "from llm_drift_otel._fingerprint import fingerprint_output as f;"
        f"print(json.dumps([f(s).id for s in {samples!r}]))"
    )
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code, str(SRC)], capture_output=True, text=True,
                             env=env, check=True)
        assert json.loads(out.stdout) == expected


FORBIDDEN_MODULES = ("opentelemetry", "openai", "anthropic", "google", "boto3", "botocore", "mistralai",
                     "cohere", "litellm", "wrapt", "httpx", "pydantic", "requests")


@pytest.mark.parametrize("module", ["_fingerprint", "_refusal", "_contract"])
def test_pure_modules_import_only_the_stdlib(module):
    """Loaded without the package __init__ (which may pull OTel): only the stdlib and these three."""
    code = (
        "import json, sys, types;"
        "pkg = types.ModuleType('llm_drift_otel'); pkg.__path__ = [sys.argv[1] + '/llm_drift_otel'];"
        "sys.modules['llm_drift_otel'] = pkg;"
        "before = set(sys.modules);"
        f"import llm_drift_otel.{module};"
        "new = sorted(set(sys.modules) - before);"
        "print(json.dumps({m: getattr(sys.modules[m], '__file__', None) for m in new}))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(SRC)], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert f"llm_drift_otel.{module}" in loaded
    assert not [m for m in loaded if m.split(".")[0] in FORBIDDEN_MODULES]
    project = {m for m in loaded if m.startswith("llm_drift_otel")}
    assert project <= {"llm_drift_otel._fingerprint", "llm_drift_otel._refusal", "llm_drift_otel._contract"}
    third_party = [m for m, path in loaded.items() if path and "site-packages" in path]
    assert not third_party, third_party
