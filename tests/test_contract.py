"""Declared shape contracts: kind, required top-level JSON keys, a JSON Schema subset; never raise."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_drift_otel._contract import Contract
from llm_drift_otel._fingerprint import ModelOutput, ToolCall, fingerprint_output


def check(contract: Contract, output) -> bool:
    return contract.check(output, fingerprint_output(output))


CARD = {"title": "Reset link fails", "priority": "high", "steps": ["a", "b"], "score": 0.9}
CARD_SCHEMA = {
    "type": "object",
    "required": ["title", "priority", "steps"],
    "properties": {
        "title": {"type": "string"},
        "priority": {"enum": ["low", "medium", "high"]},
        "steps": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 5},
        "score": {"type": "number"},
    },
    "additionalProperties": False,
}


def test_empty_contract_accepts_anything():
    for output in (None, "", "text", CARD, ModelOutput(refusal=True)):
        assert check(Contract(), output)


def test_kind():
    assert check(Contract(kind="json"), json.dumps(CARD))
    assert check(Contract(kind="json"), CARD)
    assert not check(Contract(kind="json"), "# Title\n\n- a\n- b")
    assert check(Contract(kind="markdown"), "# Title\n\n- a\n- b")
    assert not check(Contract(kind="json"), "Sorry, but I can't assist with that.")
    assert not check(Contract(kind="no-such-kind"), json.dumps(CARD))


def test_json_keys_from_bare_fenced_and_parsed_json():
    contract = Contract(json_keys=["title", "priority"])
    assert check(contract, json.dumps(CARD))
    assert check(contract, "```json\n" + json.dumps(CARD) + "\n```")
    assert check(contract, CARD)
    assert check(contract, ModelOutput(text=json.dumps(CARD)))
    assert not check(contract, json.dumps({"title": "x"}))            # a key missing
    assert not check(contract, json.dumps([CARD]))                    # not an object
    assert not check(contract, "title: x, priority: high")            # not JSON
    assert not check(contract, json.dumps({"data": CARD}))            # keys are top-level only
    assert not check(contract, None)


def test_json_keys_accepts_any_sequence_and_a_single_string():
    assert Contract(json_keys=("title",)).check(CARD, fingerprint_output(CARD))
    assert Contract(json_keys="title").json_keys == ("title",)
    assert check(Contract(json_keys="title"), CARD)


def test_json_schema_subset():
    contract = Contract(kind="json", json_schema=CARD_SCHEMA)
    assert check(contract, json.dumps(CARD))
    bad = [
        {**CARD, "priority": "urgent"},                    # enum
        {**CARD, "steps": []},                             # minItems
        {**CARD, "steps": ["a"] * 6},                      # maxItems
        {**CARD, "steps": ["a", 2]},                       # items type
        {**CARD, "extra": True},                           # additionalProperties false
        {k: v for k, v in CARD.items() if k != "title"},   # required
        {**CARD, "title": 5},                              # property type
        {**CARD, "score": "0.9"},                          # number as string
        [CARD],                                            # top-level type
    ]
    for document in bad:
        assert not check(contract, json.dumps(document)), document


def test_json_types_follow_json_schema_not_python():
    assert check(Contract(json_schema={"type": "object", "properties": {"n": {"type": "integer"}}}), {"n": 3})
    assert check(Contract(json_schema={"properties": {"n": {"type": "integer"}}}), {"n": 3.0})
    assert not check(Contract(json_schema={"properties": {"n": {"type": "integer"}}}), {"n": True})
    assert not check(Contract(json_schema={"properties": {"n": {"type": "number"}}}), {"n": False})
    assert not check(Contract(json_schema={"properties": {"n": {"enum": [1]}}}), {"n": True})
    assert check(Contract(json_schema={"properties": {"n": {"enum": [1]}}}), {"n": 1.0})
    assert check(Contract(json_schema={"properties": {"n": {"type": ["string", "null"]}}}), {"n": None})
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert check(Contract(json_schema=schema), {"a": 1, "b": 2})
    assert not check(Contract(json_schema=schema), {"a": 1, "b": "2"})
    assert check(Contract(json_schema={"items": [{"type": "string"}, {"type": "number"}]}), ["a", 1, None])


def test_tool_call_arguments_are_the_json():
    output = ModelOutput(tool_calls=(ToolCall("create_ticket", '{"title": "x", "priority": "low"}'),))
    assert check(Contract(kind="tool_call", json_keys=["title", "priority"]), output)
    assert not check(Contract(kind="tool_call", json_keys=["title", "owner"]), output)
    parsed = ModelOutput(tool_calls=(ToolCall("create_ticket", {"title": "x", "priority": "low"}),))
    assert check(Contract(json_keys=["priority"], json_schema={"required": ["title"]}), parsed)
    broken = ModelOutput(tool_calls=(ToolCall("create_ticket", "{not json"),))
    assert not check(Contract(json_keys=["title"]), broken)
    two = ModelOutput(tool_calls=(ToolCall("a", {"title": 1}), ToolCall("b", {"other": 1})))
    assert not check(Contract(json_keys=["title"]), two)  # every call must meet it


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "objekt"},
        {"type": []},
        {"enum": "high"},
        {"required": "title"},
        {"properties": ["title"]},
        {"minItems": -1, "type": "array"},
        {"maxItems": "3", "type": "array"},
        "not a schema",
        42,
        {"properties": {"title": "string"}},
    ],
)
def test_invalid_schema_is_a_violation_not_an_exception(schema):
    assert check(Contract(json_schema=schema), {"title": "x", "items": [1, 2]}) is False
    assert check(Contract(json_schema=schema), [1, 2, 3]) is False


def test_deep_documents_do_not_raise():
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    schema: dict = {"type": "object"}
    inner = schema
    for _ in range(200):
        inner["properties"] = {"a": {"type": "object"}}
        inner = inner["properties"]["a"]
    assert check(Contract(json_schema=schema), deep) in (True, False)
    assert check(Contract(json_keys=["a"]), "[" * 100_000 + "]" * 100_000) is False


def test_check_without_a_real_shape_does_not_raise():
    assert Contract(kind="json").check(CARD, None) is False  # type: ignore[arg-type]
    assert Contract(json_keys=["title"]).check(CARD, object()) is True  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.none(), st.text(max_size=200), st.binary(max_size=50),
              st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=5)),
    st.one_of(st.none(), st.sampled_from(["json", "markdown", "prose", "refusal"])),
    st.one_of(st.none(), st.lists(st.text(max_size=5), max_size=3)),
    st.one_of(st.none(), st.dictionaries(st.sampled_from(["type", "required", "properties", "enum", "items",
                                                          "minItems", "additionalProperties"]),
                                         st.integers() | st.text(max_size=6) | st.lists(st.text(max_size=4)) | st.booleans(),
                                         max_size=4)),
)
def test_never_raises(output, kind, keys, schema):
    contract = Contract(kind=kind, json_keys=keys, json_schema=schema)
    assert contract.check(output, fingerprint_output(output)) in (True, False)
