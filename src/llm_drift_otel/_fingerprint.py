"""Content-free structural fingerprint of one LLM output.

Pure (stdlib only, plus ``_refusal``): it runs on every LLM call inside the host application,
so it is cheap (bounded by ``max_scan_bytes``, no recursion past a small depth) and never raises.

The fingerprint answers "what *shape* did the model answer in?" -- JSON with which keys and
types, markdown with which block layout, prose, code, a tool call, a refusal -- while staying
invariant to the values and words of the answer, so that two answers of the same structure get
the same ``Shape.id`` and a fallback model that answers in another structure gets another one.
"""

from __future__ import annotations

import json
import re
import types
from dataclasses import dataclass, field, fields
from hashlib import blake2b
from collections.abc import Mapping
from itertools import chain, islice
from operator import add, eq, itemgetter
from typing import Any

from ._refusal import is_refusal

__all__ = [
    "DEFAULT_MAX_SCAN_BYTES",
    "FEATURE_NAMES",
    "KINDS",
    "ModelOutput",
    "Shape",
    "ToolCall",
    "extract_json",
    "fingerprint_output",
]

DEFAULT_MAX_SCAN_BYTES = 262144
KINDS = ("json", "markdown", "prose", "tool_call", "refusal", "code", "empty")

#: Style markers, in a stable order; every ``Shape.features`` has all of them.
FEATURE_NAMES: tuple[str, ...] = (
    "chars",             # characters of the whole output (not only the scanned part)
    "words",             # prose words: code blocks and indentation excluded
    "lines",
    "paragraphs",        # prose blocks (blank-line separated)
    "headings",
    "bullets",           # bullet list items, nested ones included
    "numbered_items",
    "bold",              # bold, italic, inline code and links: close approximations from
    "italic",            # counts of their markers (cheap), not a full markdown parse
    "inline_code",
    "tables",
    "table_rows",        # separator rows excluded
    "code_fences",
    "links",             # markdown links and bare URLs
    "blockquotes",
    "exclamations",
    "questions",
    "emoji",
    "json",              # 1 when the output is JSON
    "tool_calls",
    "refusal",           # 1 when the output is a refusal
    "first_person",      # the pronoun "I" per word: the model talking about itself
    "second_person",     # you / your / yourself per word: the model addressing the user
    "avg_sentence_len",  # words per sentence
    # -- layout habits: how the blocks are put together (counts unless said otherwise)
    "h1",                # headings by level: which levels a model uses is a habit
    "h2",
    "h3",
    "h4",                # level 4 and deeper
    "heading_tight",     # headings followed by their content with no blank line between
    "heading_colon",     # headings ending with ":"
    "heading_numbered",  # headings whose text starts with a number ("### 1. ...")
    "heading_late",      # 1 when a heading opens the last quarter of the answer (a closing section)
    "starts_heading",    # 1 when the answer opens with a heading
    "bold_lines",        # lines that are bold and nothing else: a bold pseudo-heading
    "bold_lead_items",   # list items that open with bold ("- **Term**: ...")
    "bold_colon_in",     # "**Term:**": the colon inside the bold
    "bold_colon_out",    # "**Term**:": the colon after it
    "nested_items",      # list items nested under another item
    "loose_items",       # list items separated from the previous one by a blank line
    "star_bullets",      # bullets written "*" (not "-")
    "item_period",       # list items whose line ends with "."
    "item_len",          # mean characters of a list item's first line
    "colon_lines",       # prose lines ending with ":" (lead-ins)
    "colon_list_tight",  # a lead-in line ending with ":" directly followed by a list
    "colon_list_loose",  # ... followed by a blank line, then a list
    "fence_tagged",      # code fences with a language tag
    "hrs",               # horizontal rules
    "first_words",       # words of the first block
    "last_words",        # words of the last block
    "ends_paragraph",    # 1 when the answer closes with a prose paragraph
    "ends_newline",      # 1 when the output ends with whitespace
    # -- typography and punctuation habits
    "trailing_spaces",   # lines ending with a space
    "curly_quotes",      # typographic quotes ’ ‘ “ ”
    "straight_quotes",   # ASCII apostrophes
    "dashes",            # em and en dashes
    "spaced_hyphens",    # " - " used as a dash
    "prose_exclamations",  # "!" followed by a space or line end
    "colons",
    "parens",
    "math",              # LaTeX math delimiters \( \[ $$
    "opens_exclaim",     # 1 when the first line has a "!" ("Great!", "Sure!": an exclaimed opener)
    "item_bold_only",    # list items that are only a bold term ("1. **Setup**:"), their content nested below
    "line_chars",        # mean characters per non-blank line: long wrapped paragraphs vs short lines
)

_SIGNATURE_MAX = 256
_JSON_MAX_DEPTH = 8          # deeper JSON is summarised as {…} / […]
_JSON_MAX_KEYS = 64          # keys shown per object; a bigger object is a map, not a record
_JSON_MAX_ITEMS = 64         # array elements inspected (head and tail)
_JSON_MAX_UNION = 8          # distinct element skeletons shown per array
_JSON_NODE_BUDGET = 4096     # containers and keys visited per output, whatever the nesting
_KEY_MAX_CHARS = 40
_JSON_NEAR_WHOLE = 160       # text around a fenced JSON block that still counts as "just JSON"


@dataclass(frozen=True)
class ToolCall:
    """One tool/function call the model asked for; arguments as JSON text or parsed."""

    name: str
    arguments: "str | Mapping[str, Any] | None" = None


@dataclass(frozen=True)
class ModelOutput:
    """What a provider adapter extracts from an SDK response, whatever the SDK."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    #: The provider said so explicitly (OpenAI ``message.refusal``, Anthropic stop_reason "refusal").
    refusal: bool = False


@dataclass(frozen=True, slots=True)
class Shape:
    """The structure of one output, with no words or values of it (see SPEC.md §1)."""

    kind: str
    id: str
    signature: str
    length_bucket: int
    refusal: bool
    features: Mapping[str, float] = field(compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, for the CLI and baselines files."""
        return {
            "kind": self.kind,
            "id": self.id,
            "signature": self.signature,
            "length_bucket": self.length_bucket,
            "refusal": self.refusal,
            "features": dict(self.features),
        }


# --------------------------------------------------------------------------------------------
# entry points


def fingerprint_output(
    output: "ModelOutput | str | bytes | Mapping | list | None",
    *,
    max_scan_bytes: int = DEFAULT_MAX_SCAN_BYTES,
    hash_keys: bool = False,
) -> Shape:
    """Fingerprint one output: text, bytes, parsed JSON, a ``ModelOutput`` or ``None``.

    Reads at most ``max_scan_bytes`` of text. Never raises: malformed input is prose or empty,
    because the host's LLM call must not fail because of its telemetry.
    """
    cap = _scan_cap(max_scan_bytes)
    try:
        return _fingerprint(output, cap, bool(hash_keys))
    except Exception:  # noqa: BLE001 - last resort; the classifier itself is meant not to raise
        return _make_shape("prose", "prose:unreadable", 0, _zero_features())


def extract_json(text: str, *, max_scan_bytes: int = DEFAULT_MAX_SCAN_BYTES) -> "tuple[bool, Any]":
    """``(found, value)`` for an output that is a JSON object/array: bare, or in one ```json fence.

    The fence may carry a short sentence around it ("Here is the JSON:"); JSON embedded in a
    longer answer is not "the output is JSON" and is not returned.
    """
    try:
        if isinstance(text, (bytes, bytearray)):
            text, _, valid, _ = _decode_capped(text, _scan_cap(max_scan_bytes))
            if not valid:
                return False, None
        elif not isinstance(text, str):
            return False, None
        else:
            text, _ = _cap_text(text, _scan_cap(max_scan_bytes))
        value, framing = _locate_json(text)
        if framing not in ("bare", "fence", "fence+text"):
            return False, None
        return True, value
    except Exception:  # noqa: BLE001
        return False, None


# --------------------------------------------------------------------------------------------
# input normalisation


def _scan_cap(max_scan_bytes: Any) -> int:
    try:
        cap = int(max_scan_bytes)
    except (TypeError, ValueError):
        return DEFAULT_MAX_SCAN_BYTES
    return cap if cap > 0 else DEFAULT_MAX_SCAN_BYTES


def _cap_text(text: str, cap: int) -> tuple[str, bool]:
    """At most ``cap`` UTF-8 bytes of ``text``, cut on a character boundary; (head, truncated)."""
    if len(text) * 4 <= cap:  # cannot exceed the cap whatever the characters
        return text, False
    head = text[:cap]
    if head.isascii():
        return head, len(text) > cap
    raw = head.encode("utf-8", "surrogatepass")
    if len(raw) <= cap:
        return head, len(text) > len(head)
    raw = raw[:cap]
    try:
        return raw.decode("utf-8", "surrogatepass"), True
    except UnicodeDecodeError as err:  # a character cut in half at the end
        return raw[: err.start].decode("utf-8", "surrogatepass"), True


def _decode_capped(data: Any, cap: int) -> tuple[str, int, bool, bool]:
    """Decode at most ``cap`` bytes: (text, full length in characters, valid UTF-8, truncated)."""
    total = len(data)
    head = bytes(data[:cap])
    truncated = total > cap
    valid = True
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        cut_char = truncated and err.reason == "unexpected end of data" and err.start >= len(head) - 3
        if cut_char:
            text = head[: err.start].decode("utf-8")
        else:
            text, valid = head.decode("utf-8", "replace"), False
    if not truncated:
        return text, len(text), valid, False
    # Past the cap the length is extrapolated (ASCII is exact) so the cost stays flat.
    if isinstance(data, (bytes, bytearray)) and data.isascii():
        full = total
    else:
        full = len(text) + int((total - len(head)) * (len(text) / max(len(head), 1)))
    return text, full, valid, True


def _as_tool_calls(raw: Any) -> tuple:
    if not raw or isinstance(raw, (str, bytes, Mapping)):
        return ()
    calls = []
    try:
        for call in islice(raw, 128):
            if isinstance(call, ToolCall):
                calls.append((call.name, call.arguments))
            elif isinstance(call, Mapping):
                calls.append((call.get("name"), call.get("arguments")))
            else:
                calls.append((getattr(call, "name", None), getattr(call, "arguments", None)))
    except TypeError:
        return ()
    return tuple(calls)


# --------------------------------------------------------------------------------------------
# classification


def _fingerprint(output: Any, cap: int, hash_keys: bool) -> Shape:
    text: Any = ""
    tool_calls: tuple = ()
    flagged = False
    if output is None:
        pass
    elif type(output) is ModelOutput or isinstance(output, ModelOutput):
        text, flagged = output.text, bool(output.refusal)
        tool_calls = _as_tool_calls(output.tool_calls)
    else:
        text = output

    valid = True
    truncated = False
    if isinstance(text, str):
        full_chars = len(text)
        scanned, truncated = _cap_text(text, cap)
    elif isinstance(text, (bytes, bytearray, memoryview)):
        scanned, full_chars, valid, truncated = _decode_capped(text, cap)
    elif isinstance(text, (dict, list, tuple, Mapping)):
        return _parsed_json_shape(text, tool_calls, flagged, hash_keys, cap)
    else:  # a number, an SDK object we do not know: no text we can trust
        scanned, full_chars = "", 0
    bucket = _length_bucket(full_chars)

    if flagged:
        features = _text_features(scanned, full_chars, refusal=True, n_tools=len(tool_calls))
        return _make_shape("refusal", "refusal", bucket, features)
    if tool_calls:
        features = _text_features(scanned, full_chars, refusal=False, n_tools=len(tool_calls))
        signature = _tool_signature(tool_calls, bool(scanned.strip()), hash_keys, cap)
        return _make_shape("tool_call", signature, bucket, features)

    stripped = scanned.strip()
    if not stripped:
        return _make_shape("empty", "empty", bucket, _zero_features(full_chars))
    if not valid:
        features = _text_features(scanned, full_chars, refusal=False, n_tools=0)
        return _make_shape("prose", "prose:undecodable", bucket, features)

    first = stripped[0]
    if first in "{[" or "```" in stripped[: _JSON_NEAR_WHOLE + 8]:
        value, framing = _locate_json(stripped)
        if framing == "deep":  # JSON nested deeper than any parser here will go
            signature = "json[deep]:" + ("[…]" if first == "[" else "{…}")
            return _make_shape("json", signature, bucket, _json_features(scanned, full_chars))
        if framing == "invalid":
            if truncated and first in "{[":  # longer than the cap: JSON we could not read whole
                signature = "json[cut]:" + ("{…}" if first == "{" else "[…]")
                return _make_shape("json", signature, bucket, _json_features(scanned, full_chars))
            features = _text_features(scanned, full_chars, refusal=False, n_tools=0)
            return _make_shape("prose", "prose:invalid-json", bucket, features)
        if framing is not None:
            skeleton = _json_skeleton(value, hash_keys)
            signature = ("json:" if framing == "bare" else f"json[{framing}]:") + skeleton
            return _make_shape("json", signature, bucket, _json_features(scanned, full_chars))

    if is_refusal(stripped):
        features = _text_features(scanned, full_chars, refusal=True, n_tools=0)
        return _make_shape("refusal", "refusal", bucket, features)

    layout = _Layout(scanned)
    features = _text_features(scanned, full_chars, refusal=False, n_tools=0, layout=layout)
    kind, signature = layout.classify(stripped, features)
    return _make_shape(kind, signature, bucket, features)


def _parsed_json_shape(value: Any, tool_calls: tuple, flagged: bool, hash_keys: bool, cap: int) -> Shape:
    chars = _estimate_json_chars(value)
    bucket = _length_bucket(chars)
    if flagged:
        return _make_shape("refusal", "refusal", bucket, _json_features("", chars, refusal=True))
    if tool_calls:
        features = _json_features("", chars)
        return _make_shape("tool_call", _tool_signature(tool_calls, True, hash_keys, cap), bucket, features)
    return _make_shape("json", "json:" + _json_skeleton(value, hash_keys), bucket, _json_features("", chars))


# A variant answers in a handful of shapes, so (id, shown signature) is cached by signature;
# long signatures are not kept (bounded memory), they are hashed each time.
_SIGNATURE_CACHE: dict[str, tuple[str, str]] = {}
_SIGNATURE_CACHE_MAX = 512
_SIGNATURE_CACHE_CHARS = 1024


def _make_shape(kind: str, signature: str, bucket: int, features: dict) -> Shape:
    cached = _SIGNATURE_CACHE.get(signature)
    if cached is None:
        digest = blake2b(signature.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
        shown = signature if len(signature) <= _SIGNATURE_MAX else signature[: _SIGNATURE_MAX - 1] + "…"
        cached = (digest, shown)
        if len(signature) <= _SIGNATURE_CACHE_CHARS:
            if len(_SIGNATURE_CACHE) >= _SIGNATURE_CACHE_MAX:
                _SIGNATURE_CACHE.clear()
            _SIGNATURE_CACHE[signature] = cached
    shape = _new_object(Shape)
    _set_kind(shape, kind)
    _set_id(shape, cached[0])
    _set_signature(shape, cached[1])
    _set_length_bucket(shape, bucket)
    _set_refusal(shape, kind == "refusal")
    _set_features(shape, _MappingProxy(features))
    return shape


# Shape(...) goes through the frozen dataclass __init__ (object.__setattr__ per field); the slot
# descriptors set the same fields in half the time. Same object: eq, hash and repr are unchanged.
_new_object = object.__new__
_MappingProxy = types.MappingProxyType
_SHAPE_FIELDS = ("kind", "id", "signature", "length_bucket", "refusal", "features")
assert tuple(f.name for f in fields(Shape)) == _SHAPE_FIELDS, "update _make_shape with Shape's fields"
_set_kind, _set_id, _set_signature, _set_length_bucket, _set_refusal, _set_features = (
    Shape.__dict__[name].__set__ for name in _SHAPE_FIELDS
)


def _length_bucket(chars: int) -> int:
    """floor(log2(chars + 1)), exact for any size."""
    return (max(chars, 0) + 1).bit_length() - 1


# --------------------------------------------------------------------------------------------
# JSON


_JSON_FENCE_TAGS = ("", "json", "jsonc", "json5", "jsonl")


def _locate_json(text: str) -> tuple[Any, "str | None"]:
    """(value, framing): framing is "bare", "fence" or "fence+text" for a JSON object/array,
    "invalid" for text that is meant as JSON but does not parse, None for anything else."""
    s = text.strip()
    if not s:
        return None, None
    if s[0] in "{[":
        if s[-1] in "}]":
            value = _loads_container(s)
            if value is _TOO_DEEP:
                return None, "deep"
            if value is not None:
                return value, "bare"
        return None, ("invalid" if _starts_like_json(s) else None)
    start = s.find("```")
    if start < 0 or start > _JSON_NEAR_WHOLE:
        return None, None
    newline = s.find("\n", start)
    if newline < 0:
        return None, None
    tag = s[start + 3 : newline].strip().lower()
    if tag not in _JSON_FENCE_TAGS:
        return None, None
    end = s.find("```", newline)
    if end < 0:  # unterminated fence
        return None, ("invalid" if tag else None)
    if s.find("```", end + 3) >= 0:  # more than one fenced block: an answer, not a document
        return None, None
    around = start + len(s) - end - 3
    if around > max(_JSON_NEAR_WHOLE, len(s) // 10):  # JSON inside a longer answer
        return None, None
    body = s[newline + 1 : end].strip()
    value = _loads_container(body)
    if value is _TOO_DEEP:
        return None, "deep"
    if value is None:
        return None, ("invalid" if tag or _starts_like_json(body) else None)
    return value, ("fence" if around == 0 else "fence+text")


def _loads_container(body: str) -> Any:
    if not body or body[0] not in "{[":
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    except RecursionError:  # valid or not, nested past the interpreter's limit
        return _TOO_DEEP
    return value if isinstance(value, (dict, list)) else None


_TOO_DEEP = object()


def _starts_like_json(s: str) -> bool:
    """An object/array opening that only JSON would have ({"key", [{, [", ...)."""
    if not s:
        return False
    rest = s[1:].lstrip()[:1]
    if s[0] == "{":
        return rest in ('"', "}", "'", "")
    if s[0] == "[":
        return rest in ("{", "[", '"', "]", "") or (rest in "-0123456789" and s.rstrip()[-1] in "]}")
    return False


_SCALAR_TYPE_NAMES = {str: "str", int: "num", float: "num", bool: "bool", type(None): "null"}
_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_$@.\-]{1,%d}" % _KEY_MAX_CHARS)
_KEY_CACHE: dict[str, str] = {}
_HASHED_KEY_CACHE: dict[str, str] = {}


def _key_text(key: Any) -> str:
    """A key as text; keys of parsed Python input may be any hashable."""
    if isinstance(key, str):
        return key
    try:
        return str(key)[:_KEY_MAX_CHARS]
    except Exception:  # noqa: BLE001 - a key whose __str__ fails, a huge int, ...
        return "?"


def _plain_key(key: Any) -> str:
    cached = _KEY_CACHE.get(key) if isinstance(key, str) else None
    if cached is not None:
        return cached
    text = _key_text(key)
    if _SIMPLE_KEY.fullmatch(text) is None:
        # Quote odd keys so they cannot fake structure (":", ",", "{"); ASCII-escaped, bounded.
        text = json.dumps(text[:_KEY_MAX_CHARS])
    if isinstance(key, str):
        if len(_KEY_CACHE) > 4096:
            _KEY_CACHE.clear()
        _KEY_CACHE[key] = text
    return text


def _hashed_key(key: Any) -> str:
    cached = _HASHED_KEY_CACHE.get(key) if isinstance(key, str) else None
    if cached is not None:
        return cached
    text = _key_text(key)
    hashed = "#" + blake2b(text.encode("utf-8", "surrogatepass"), digest_size=3).hexdigest()
    if isinstance(key, str):
        if len(_HASHED_KEY_CACHE) > 4096:
            _HASHED_KEY_CACHE.clear()
        _HASHED_KEY_CACHE[key] = hashed
    return hashed


def _json_skeleton(value: Any, hash_keys: bool) -> str:
    """Key/type skeleton, e.g. ``{a:str,b:[{c:num}]}``; invariant to values and array lengths.

    Array elements are merged, not listed: objects with the same keys become one object whose
    fields carry the union of their types, so ``[{a:1},{a:2},...]`` is ``[{a:num}]`` at any length.
    The work is a few C-level passes per *distinct key*, not per value, so it stays small next to
    ``json.loads``.
    """
    return _one(value, 0, _hashed_key if hash_keys else _plain_key, [_JSON_NODE_BUDGET])


def _one(value: Any, depth: int, key_of, budget: list) -> str:
    """Skeleton of one value; direct paths for the common shapes (they run on every call)."""
    name = _SCALAR_TYPE_NAMES.get(type(value))
    if name is not None:
        return name
    if type(value) is list:
        if not value:
            return "[]"
        if depth < _JSON_MAX_DEPTH and budget[0] > 0:
            sample = value if len(value) <= _JSON_MAX_ITEMS else value[:32] + value[-32:]
            element_types = set(map(type, sample))
            if len(element_types) == 1:
                element_type = element_types.pop()
                name = _SCALAR_TYPE_NAMES.get(element_type)
                if name is not None:
                    budget[0] -= 1
                    return "[" + name + "]"
                if element_type is dict:
                    budget[0] -= 1
                    union = _objects_skeletons(sample, depth + 1, key_of, budget, exact_dicts=True)
                    return "[" + (union.pop() if len(union) == 1 else "|".join(_cap_union(sorted(union)))) + "]"
    elif type(value) is dict and 0 < len(value) <= _JSON_MAX_KEYS and depth < _JSON_MAX_DEPTH and budget[0] > 0:
        plan = _plan(tuple(value), key_of)
        budget[0] -= len(plan.keys) + 1
        values = tuple(value.values())
        names = list(map(_SCALAR_TYPE_NAMES.get, map(type, values)))
        if None in names:
            for index, name in enumerate(names):
                if name is None:
                    names[index] = _one(values[index], depth + 1, key_of, budget)
        return _object_skeleton(plan, names)
    return "|".join(sorted(_union((value,), depth, key_of, budget)))


def _cap_union(union: list) -> list:
    return union if len(union) <= _JSON_MAX_UNION else union[:_JSON_MAX_UNION] + ["…"]


def _union(values: Any, depth: int, key_of, budget: list) -> set:
    """Distinct skeletons of a collection of sibling values (array elements, or one field)."""
    kinds: set = set()
    objects = arrays = False
    value_types = set(map(type, values))
    for value_type in value_types:
        name = _SCALAR_TYPE_NAMES.get(value_type)
        if name is not None:
            kinds.add(name)
        elif value_type is dict:  # parsed JSON: skip the (slow) ABC checks
            objects = True
        elif value_type is list:
            arrays = True
        elif issubclass(value_type, Mapping):
            objects = True
        elif issubclass(value_type, (list, tuple)):
            arrays = True
        elif issubclass(value_type, bool):
            kinds.add("bool")
        elif issubclass(value_type, (int, float)):
            kinds.add("num")
        elif issubclass(value_type, str):
            kinds.add("str")
        else:
            kinds.add("any")
    if objects:
        same = len(value_types) == 1
        found = values if same else [v for v in values if isinstance(v, Mapping)]
        kinds.update(_objects_skeletons(found, depth, key_of, budget, exact_dicts=same and dict in value_types))
    if arrays:
        same = len(value_types) == 1
        found = values if same else [v for v in values if isinstance(v, (list, tuple))]
        kinds.add(_arrays_skeleton(found, depth, key_of, budget, exact_lists=same and list in value_types))
    return kinds


def _objects_skeletons(objects: Any, depth: int, key_of, budget: list, exact_dicts: bool = False) -> set:
    """Skeletons of sibling objects: one per distinct key set, fields merged across objects.

    ``exact_dicts`` (every object is a plain dict, as json.loads makes them) allows the C-level
    shortcuts of ``_records_group`` and ``_uniform_names``.
    """
    if depth >= _JSON_MAX_DEPTH or budget[0] <= 0:
        return {"{}" if not any(objects) else "{…}"}
    if len(objects) > _JSON_MAX_ITEMS * 4:
        objects = objects[: _JSON_MAX_ITEMS * 4]
    # Group by key set; the common case (records with the same keys) is one C-level pass.
    groups = _records_group(objects) if exact_dicts else None
    if groups is None:
        groups = _key_groups(objects)
    out = set()
    for keys, group in groups:
        if not keys:
            out.add("{}")
            continue
        plan = _plan(keys, key_of)
        budget[0] -= len(plan.keys) + 1
        if len(group) == 1:
            values = plan.fetch(group[0])
            names = list(map(_SCALAR_TYPE_NAMES.get, map(type, values)))
            if None in names:
                for index, name in enumerate(names):
                    if name is None:
                        names[index] = _one(values[index], depth + 1, key_of, budget)
        else:
            names = _uniform_names(group, plan, depth, key_of, budget) if exact_dicts and not plan.tail else None
        if names is None:
            names = []
            for column in zip(*map(plan.fetch, group)):
                column_types = set(map(type, column))
                name = _SCALAR_TYPE_NAMES.get(column_types.pop()) if len(column_types) == 1 else None
                if name is None:
                    name = "|".join(sorted(_union(column, depth + 1, key_of, budget)))
                names.append(name)
        out.add(_object_skeleton(plan, names))
    return out


def _key_groups(objects: Any) -> list:
    """``(keys, objects)`` by key set, the first _JSON_MAX_UNION * 2 of them (an object of more than
    _JSON_MAX_KEYS keys: its first ones and _MORE)."""
    if max(map(len, objects)) <= _JSON_MAX_KEYS:
        key_sets = set(map(tuple, objects))
        if len(key_sets) == 1:
            return [(key_sets.pop(), objects)]
        groups: dict = {}
        for obj in objects:
            groups.setdefault(tuple(obj), []).append(obj)
    else:
        groups = {}
        for obj in objects:
            keys = tuple(islice(obj, _JSON_MAX_KEYS)) + ((_MORE,) if len(obj) > _JSON_MAX_KEYS else ())
            groups.setdefault(keys, []).append(obj)
    return list(islice(groups.items(), _JSON_MAX_UNION * 2))


def _records_group(objects: Any) -> "list | None":
    """``[(keys, objects)]`` when every dict has the first one's keys in its order, else None.

    One C-level comparison of all keys against the first dict's, repeated: json.loads shares
    equal key strings, so it is mostly identity checks. Equal concatenations imply equal rows,
    as a dict cannot hold a key twice.
    """
    keys = list(objects[0])
    if not 0 < len(keys) <= _JSON_MAX_KEYS:
        return None
    if len(objects) > 1 and list(chain.from_iterable(objects)) != keys * len(objects):
        return None
    return [(tuple(keys), objects)]


def _uniform_names(group: Any, plan: "_KeyPlan", depth: int, key_of, budget: list) -> "list | None":
    """Field skeletons of same-keyed plain dicts whose every field has one type across the group.

    Checked with one C-level comparison of all value types against the first row's; fields of
    a container type are merged the way the general path merges them. None when types vary.
    """
    width = len(plan.keys)
    values = list(chain.from_iterable(map(dict.values, group)))
    value_types = list(map(type, values))
    row_types = value_types[:width]
    if value_types != row_types * len(group):
        return None
    names = list(map(_SCALAR_TYPE_NAMES.get, row_types))
    if None in names:
        for index, name in enumerate(names):
            if name is None:
                column = values[index::width]
                field_type = row_types[index]
                # What _union does with a column of one container type, without re-checking types.
                if field_type is list:
                    names[index] = _arrays_skeleton(column, depth + 1, key_of, budget, exact_lists=True)
                elif field_type is dict:
                    union = _objects_skeletons(column, depth + 1, key_of, budget, exact_dicts=True)
                    names[index] = "|".join(sorted(union))
                else:
                    names[index] = "|".join(sorted(_union(column, depth + 1, key_of, budget)))
    return names


class _KeyPlan:
    """How to read one key set: values in key order, and "label:" heads sorted by label."""

    __slots__ = ("keys", "heads", "pick", "fetch", "tail")

    def __init__(self, keys: tuple, key_of) -> None:
        cut = keys[-1] is _MORE
        real = keys[:-1] if cut else keys
        labels = [key_of(key) for key in real]
        try:
            order = sorted(range(len(real)), key=labels.__getitem__)
        except TypeError:
            order = list(range(len(real)))
        self.keys = real
        self.heads = tuple(labels[i] + ":" for i in order)
        self.pick = _tuple_getter(order)
        self.tail = ",…" if cut else ""
        # Values in key order, for any Mapping, reading only the keys shown.
        if cut or len(real) == 1:
            getter = _tuple_getter(real)
            self.fetch = getter
        else:
            self.fetch = _values_of


# Skeletons of objects by (plan, field skeletons): the same few rows come back in every output.
_OBJECT_SKELETONS: dict = {}
_OBJECT_SKELETONS_MAX = 1024
_OBJECT_SKELETON_CHARS = 256  # longer ones are rare and are joined each time (bounded memory)


def _object_skeleton(plan: _KeyPlan, names: list) -> str:
    """``{label:skeleton,...}`` of one object: fields in label order, ``,…`` when cut."""
    cache_key = (plan, *names)
    text = _OBJECT_SKELETONS.get(cache_key)
    if text is None:
        text = "{" + ",".join(map(add, plan.heads, plan.pick(names))) + plan.tail + "}"
        if len(text) <= _OBJECT_SKELETON_CHARS:
            if len(_OBJECT_SKELETONS) >= _OBJECT_SKELETONS_MAX:
                _OBJECT_SKELETONS.clear()
            _OBJECT_SKELETONS[cache_key] = text
    return text


def _values_of(obj: Any) -> tuple:
    return tuple(obj.values())


def _tuple_getter(items: Any):
    """itemgetter that always returns a tuple (itemgetter(x) alone returns a bare item)."""
    items = tuple(items)
    if len(items) == 1:
        only = items[0]
        return lambda container: (container[only],)
    return itemgetter(*items)


_PLAN_CACHE: dict = {}


def _plan(keys: tuple, key_of) -> _KeyPlan:
    cache_key = (keys, key_of)
    plan = _PLAN_CACHE.get(cache_key)
    if plan is None:
        if len(_PLAN_CACHE) >= 2048:
            _PLAN_CACHE.clear()
        plan = _PLAN_CACHE[cache_key] = _KeyPlan(keys, key_of)
    return plan


def _arrays_skeleton(arrays: list, depth: int, key_of, budget: list, exact_lists: bool = False) -> str:
    if depth >= _JSON_MAX_DEPTH or budget[0] <= 0:
        return "[]" if not any(arrays) else "[…]"
    budget[0] -= 1
    half = _JSON_MAX_ITEMS // 2
    arrays = arrays[: _JSON_MAX_ITEMS * 4]
    if exact_lists and max(map(len, arrays)) <= _JSON_MAX_ITEMS:
        # Short plain lists: their elements' types in one C-level pass; scalars need nothing more.
        element_types = set(map(type, chain.from_iterable(arrays)))
        if not element_types:
            return "[]"
        names = set(map(_SCALAR_TYPE_NAMES.get, element_types))
        if None not in names:
            return "[" + "|".join(_cap_union(sorted(names))) + "]"
        elements = list(chain.from_iterable(arrays))
    else:
        elements = []
        for array in arrays:
            elements.extend(array if len(array) <= _JSON_MAX_ITEMS else list(array[:half]) + list(array[-half:]))
    if not elements:
        return "[]"
    return "[" + "|".join(_cap_union(sorted(_union(elements, depth + 1, key_of, budget)))) + "]"


_MORE = object()  # marks an object cut at _JSON_MAX_KEYS keys


def _estimate_json_chars(value: Any) -> int:
    """Length of the JSON text of a parsed value, in bounded work (sampled past a budget)."""
    total = 0
    stack = [(value, 1.0)]
    visited = 0
    while stack:
        node, weight = stack.pop()
        visited += 1
        if visited > 20000:
            break
        if isinstance(node, str):
            total += weight * (len(node) + 2)
        elif isinstance(node, Mapping):
            n = len(node)
            sample = list(islice(node.items(), 256))
            scale = weight * (n / len(sample)) if sample else 0.0
            total += weight * 2 + scale * len(sample)  # braces, commas
            for key, item in sample:
                total += scale * (len(key) + 3 if isinstance(key, str) else 8)
                stack.append((item, scale))
        elif isinstance(node, (list, tuple)):
            n = len(node)
            sample = node[:256] if n > 256 else node
            scale = weight * (n / len(sample)) if n else 0.0
            total += weight * 2 + scale * len(sample)
            stack.extend((item, scale) for item in sample)
        elif node is None or isinstance(node, bool):
            total += weight * 4
        elif isinstance(node, int):  # not repr(): huge ints are slow to print, or refuse to
            total += weight * (node.bit_length() * 0.302 + 1)
        else:
            total += weight * 8
    return int(total)


def _tool_signature(calls: tuple, with_text: bool, hash_keys: bool, cap: int) -> str:
    counts: dict[str, int] = {}
    for name, arguments in calls:
        label = _plain_key(name if isinstance(name, str) and name else "?")
        if arguments is None or arguments == "":
            args = ""
        elif isinstance(arguments, (Mapping, list, tuple)):
            args = _json_skeleton(arguments, hash_keys)
        elif isinstance(arguments, (str, bytes, bytearray)):
            if isinstance(arguments, str):
                raw, _ = _cap_text(arguments, cap)
            else:
                raw = bytes(arguments[:cap]).decode("utf-8", "replace")
            parsed = _loads_container(raw.strip())
            if parsed is None:
                args = "?"
            elif parsed is _TOO_DEEP:
                args = "…"
            else:
                args = _json_skeleton(parsed, hash_keys)
        else:
            args = "?"
        call = f"{label}({args})"
        counts[call] = counts.get(call, 0) + 1
    parts = [call if n == 1 else f"{call}*{_bucket(n)}" for call, n in sorted(counts.items())]
    return "tool:" + ";".join(parts) + ("+text" if with_text else "")


# --------------------------------------------------------------------------------------------
# text layout


def _bucket(n: int) -> str:
    """Counts are bucketed so 3 vs 4 bullets is the same shape, 4 vs 12 is not."""
    if n <= 1:
        return "1"
    if n <= 4:
        return "2-4"
    if n <= 8:
        return "5-8"
    return "9+"


_NUMBERED = re.compile(r"\d{1,3}[.)](?:[ \t]|$)")
_FENCE_OPEN = ("```", "~~~")
#: First characters of the lines that may open a block, to the branch of ``_Layout._scan`` for them.
_LINE_MARKS = {**dict.fromkeys("-*+\u2022_=", "-"), **dict.fromkeys("0123456789", "0"),
               "|": "|", "#": "#", "`": "`", "~": "`", ">": ">"}
_CLOSED_BY_BLANK = frozenset(("p", "tbl", "q"))  # blocks a blank line ends (lists may go on)
_SPACED_RULES = ("* * *", "- - -")
_HEADING_TOKENS = ("", "h1", "h2", "h3", "h4", "h5", "h6")
_BULLET_OPENERS = frozenset(c + space for c in "-*+\u2022" for space in " \t")
_FENCE_CLOSE = {"`": re.compile(r"^[ \t]*```", re.MULTILINE), "~": re.compile(r"^[ \t]*~~~", re.MULTILINE)}
_CODE_LINE = re.compile(
    r"^[ \t]*(?:(?:def|class|import|from|return|elif|else:|try:|except|finally:|with|const|let|var|"
    r"function|public|private|protected|static|void|#include|package|using|namespace|fn|impl|"
    r"struct|SELECT|INSERT|UPDATE|DELETE|CREATE|<\?php)\b[^\n]*|[^\n]*[;{}][ \t]*|"
    r"[ \t]*(?:if|for|while)\b[^\n]*:[ \t]*|[ \t]*(?://|/\*|\*/|#!)[^\n]*|[ \t]*</?[A-Za-z][^\n]*>[ \t]*|"
    r"[ \t]*[A-Za-z_][\w.]*\([^\n]*\)[ \t]*;?|"                                # a call statement
    r"[ \t]*[A-Za-z_][\w.\[\]'\"]*[ \t]*(?:[-+*/%|&^]|//|\*\*)?=(?!=)[^\n]*|"   # an assignment
    r"(?: {4,}|\t)\S[^\n]*)$",
    re.MULTILINE,
)


def _offset(lines: list[str], index: int, offset: int, to_index: int) -> int:
    """Offset in the text of line ``to_index``, from an earlier line's: a C sum, no per-line step."""
    return offset + sum(map(len, lines[index:to_index])) + to_index - index


class _Layout:
    """One pass over the lines: block sequence (for the signature) and block counts (features)."""

    __slots__ = ("tokens", "headings", "bullets", "numbered", "tables", "table_rows", "fences",
                 "blockquotes", "paragraphs", "hrs", "fence_chars", "nonblank_lines", "star_bullets",
                 "lines", "indent_chars", "levels", "heading_tight", "heading_colon", "heading_numbered",
                 "last_heading", "bold_lines", "bold_lead", "nested_items", "loose_items", "item_period",
                 "item_chars", "item_bold_only", "colon_lines", "colon_list_tight", "colon_list_loose", "fence_tagged")

    def __init__(self, text: str) -> None:
        self._scan(text)  # sets every slot

    def _scan(self, text: str) -> None:  # noqa: C901 - one flat loop is the fast way in Python
        """Block layout and counts in one pass over the lines.

        Hot path (every markdown answer), where each str index, comparison or int sum is a cost:
        counters are locals written back once at the end, a line is dispatched on its first
        character, and offsets and non-blank lines are worked out in C only when needed, so a
        prose line costs a dozen steps.
        """
        tokens: list[str] = []
        append = tokens.append
        match_numbered = _NUMBERED.match
        marks = _LINE_MARKS
        block = ""          # "p", "ul", "ol", "tbl", "q" or "" (none open)
        items = 0           # top-level items of the open list
        nested = ""         # type of nested items seen in the open list
        base_indent = 0     # indentation of the open list's items
        columns = 0         # of the open table
        after_blank = False
        fence_chars = fence_spaces = indents = 0
        headings = bullets = numbered = tables = table_rows = fences = blockquotes = paragraphs = hrs = 0
        star_bullets = heading_tight = heading_colon = heading_numbered = bold_lines = bold_lead = 0
        nested_items = loose_items = item_period = item_chars = item_bold_only = 0
        colon_lines = colon_list_tight = colon_list_loose = fence_tagged = 0
        levels = [0, 0, 0, 0]  # headings of level 1, 2, 3, 4+
        last_heading = -1   # index of the last heading line (its offset is worked out at the end)
        lines = text.split("\n")
        skipped = skipped_empty = spaces_only = 0  # lines in code blocks, empty ones; blank non-empty lines
        seen, seen_offset = 0, 0  # a line index and its offset in text, moved on by _offset
        prev = ""           # the previous non-blank line: "h" heading, ":" lead-in ending with a colon
        rest = enumerate(lines)  # an iterator, so that a code block can be skipped in one step
        for index, line in rest:
            s = line.lstrip() if line else line
            if not s:
                after_blank = True
                if line:
                    spaces_only += 1
                if block in _CLOSED_BY_BLANK:
                    append(_close(block, items, nested, columns) if block == "tbl" else block)
                    block = ""
                continue
            if s is line:  # lstrip returns the line itself when it has no indentation
                indent = 0
            else:
                indent = len(line) - len(s)
                indents += indent
            c = s[0]
            kind = ""
            if prev:
                if prev == "h" and not after_blank:
                    heading_tight += 1
                last, prev = prev, ""
            else:
                last = ""
            if c in marks:  # text lines (most of them) skip the block checks
                mark = marks[c]
                if mark == "-":  # - * + • _ =
                    if s[:2] in _BULLET_OPENERS and s.rstrip() not in _SPACED_RULES:
                        kind = "ul"
                    elif len(s) >= 3 and (s[1] == c or s[1] <= " " or s[1] > "~"):  # may be a rule
                        rule = s.rstrip().replace(" ", "")
                        if rule == c * len(rule):
                            if block == "p" and not after_blank and (c == "=" or c == "-"):
                                append("h1" if c == "=" else "h2")  # a setext heading underline
                                headings += 1
                                levels[0 if c == "=" else 1] += 1
                                last_heading = index
                                prev = "h"
                                block = ""
                            elif c != "=":
                                if block:
                                    append(_close(block, items, nested, columns))
                                    block = ""
                                append("hr")
                                hrs += 1
                            after_blank = False
                            continue
                    if not kind and c == "*" and s.startswith("**"):  # a text line: bold only?
                        t = s.rstrip()
                        if (t.endswith("**") or t.endswith("**:")) and t.count("**") == 2 and len(t) > 4:
                            bold_lines += 1
                elif mark == "|":
                    if block != "tbl":
                        if block:
                            append(_close(block, items, nested, columns))
                        block, columns = "tbl", max(s.strip().strip("|").count("|") + 1, 1)
                        tables += 1
                    if s.strip(" \t|:-"):
                        table_rows += 1
                    after_blank = False
                    continue
                elif mark == "#":
                    level = len(s) - len(s.lstrip("#"))
                    if level <= 6 and (len(s) == level or s[level] in " \t"):
                        if block:
                            append(_close(block, items, nested, columns))
                            block = ""
                        append(_HEADING_TOKENS[level])
                        headings += 1
                        levels[level - 1 if level < 4 else 3] += 1
                        if s.rstrip()[-1] == ":":
                            heading_colon += 1
                        # The text's first character: the one after "# ", unless more space follows.
                        head = s[level + 1 : level + 2]
                        if head.isdigit() or (head.isspace() and s[level:].lstrip()[:1].isdigit()):
                            heading_numbered += 1
                        last_heading = index
                        prev = "h"
                        after_blank = False
                        continue
                elif mark == "0":
                    numbered_match = match_numbered(s)
                    if numbered_match:
                        kind = "ol"
                elif mark == "`":  # ` ~
                    if s.startswith(_FENCE_OPEN) and s[:3] not in s[3:]:  # not ```inline```
                        fences += 1
                        if s[3:].strip():
                            fence_tagged += 1
                        if (block == "ul" or block == "ol") and indent > base_indent:
                            nested = nested or "code"  # a code block inside a list item
                        else:
                            if block:
                                append(_close(block, items, nested, columns))
                                block = ""
                            append("fence")
                        after_blank = False
                        # Skip the block in C: find the closing fence, count what it spans.
                        line_start = _offset(lines, seen, seen_offset, index)
                        position = line_start + len(line) + 1
                        closing = _FENCE_CLOSE[c].search(text, position)
                        end = len(text) if closing is None else text.find("\n", closing.start())
                        if end < 0:
                            end = len(text)
                        fence_chars += end - line_start
                        fence_spaces += text.count(" ", position, end)
                        skip = text.count("\n", position, end) + 1
                        inside = lines[index + 1 : index + 1 + skip]
                        skipped += len(inside)
                        skipped_empty += inside.count("")
                        next(islice(rest, skip, skip), None)  # consumes `skip` lines
                        seen, seen_offset = index + 1 + skip, end + 1
                        continue
                else:  # >
                    if block != "q":
                        if block:
                            append(_close(block, items, nested, columns))
                        block = "q"
                        blockquotes += 1
                    after_blank = False
                    continue

            if kind:  # a list item
                if kind == "ul":
                    bullets += 1
                    if c == "*":
                        star_bullets += 1
                    body = 2
                else:
                    numbered += 1
                    body = numbered_match.end()
                item_chars += len(s) - body
                if "**" in s and (s.startswith("**", body) or s[body:].lstrip().startswith("**")):
                    bold_lead += 1
                    t = s.rstrip()
                    if (t.endswith("**") or t.endswith("**:")) and t.count("**") == 2:
                        item_bold_only += 1
                if s.rstrip()[-1] == ".":
                    item_period += 1
                if indent and indent > base_indent + 1 and (block == "ul" or block == "ol"):
                    nested = nested or kind
                    nested_items += 1
                    if after_blank:
                        loose_items += 1
                elif block == kind:
                    items += 1
                    if after_blank:
                        loose_items += 1
                else:
                    if block:
                        append(_close(block, items, nested, columns))
                    block, items, nested, base_indent = kind, 1, "", indent
                    if last == ":":
                        if after_blank:
                            colon_list_loose += 1
                        else:
                            colon_list_tight += 1
                after_blank = False
                continue

            # a text line
            if s.rstrip()[-1] == ":":
                colon_lines += 1
                prev = ":"
            if block == "p":
                if not after_blank:
                    continue
                append("p")
            elif block == "ul" or block == "ol":
                if indent > base_indent or not after_blank:
                    after_blank = False
                    continue  # continuation of a list item
                append(_close(block, items, nested, columns))
            elif block:
                append(_close(block, items, nested, columns))
            block = "p"
            paragraphs += 1
            after_blank = False
        if block:
            append(_close(block, items, nested, columns))
        self.tokens = tokens
        self.headings, self.bullets, self.numbered, self.levels = headings, bullets, numbered, levels
        self.tables, self.table_rows, self.fences, self.fence_tagged = tables, table_rows, fences, fence_tagged
        self.blockquotes, self.paragraphs, self.hrs, self.star_bullets = blockquotes, paragraphs, hrs, star_bullets
        self.heading_tight, self.heading_colon, self.heading_numbered = heading_tight, heading_colon, heading_numbered
        self.last_heading = _offset(lines, 0, 0, last_heading) if last_heading >= 0 else -1
        self.bold_lines, self.bold_lead = bold_lines, bold_lead
        self.nested_items, self.loose_items, self.item_period = nested_items, loose_items, item_period
        self.item_chars, self.item_bold_only, self.colon_lines = item_chars, item_bold_only, colon_lines
        self.colon_list_tight, self.colon_list_loose = colon_list_tight, colon_list_loose
        self.fence_chars = fence_chars
        # Lines looked at (not in a code block) minus the blank ones, counted in C.
        blank = lines.count("") - skipped_empty + spaces_only
        self.nonblank_lines = len(lines) - skipped - blank
        self.lines = len(lines)
        self.indent_chars = indents + fence_spaces  # spaces that do not separate prose words

    def classify(self, stripped: str, features: dict) -> tuple[str, str]:
        """(kind, signature) from the block sequence and inline markers."""
        layout = _fold(self.tokens)
        if self.fences and self.fence_chars >= 0.6 * len(stripped) and "fence" in self.tokens:
            # Mainly code: a short lead-in / follow-up around the blocks, no sections of its own.
            around = [t for t in self.tokens if t != "fence"]
            if len(around) <= 3 and not any(t[0] == "h" and t[1:].isdigit() for t in around):
                return "code", "code:" + layout
        blocks_only_paragraphs = all(t == "p" or t.startswith("p*") for t in layout.split(","))
        if blocks_only_paragraphs:
            if self.nonblank_lines >= 3 and not (features["bold"] or features["links"]):
                code_lines = len(_CODE_LINE.findall(stripped))
                if code_lines >= 0.6 * self.nonblank_lines:
                    return "code", "code:bare"
            if features["bold"] or features["italic"] or features["links"] or features["inline_code"]:
                return "markdown", "md:" + layout
            return "prose", "prose:p" + _bucket(self.paragraphs)
        return "markdown", "md:" + layout


_SMALL_BUCKETS = tuple(_bucket(n) for n in range(10))  # _bucket of min(n, 9) without its calls, for the layout pass


def _close(block: str, items: int, nested: str, columns: int) -> str:
    """The token of a block that ends (items and columns are at least 1)."""
    if block == "ul" or block == "ol":
        token = block + _SMALL_BUCKETS[min(items, 9)]
        return token + ">" + nested if nested else token
    if block == "tbl":
        return "tbl" + _SMALL_BUCKETS[min(columns, 9)]
    return block


def _fold(tokens: list[str]) -> str:
    """Collapse runs (p,p,p -> p*2-4) and repeated sections ((h3,p,ul2-4) x N -> (...)*bucket)."""
    if any(map(eq, tokens, islice(tokens, 1, None))):
        runs: list[str] = []
        i, n = 0, len(tokens)
        while i < n:
            j = i + 1
            while j < n and tokens[j] == tokens[i]:
                j += 1
            runs.append(tokens[i] if j - i == 1 else f"{tokens[i]}*{_bucket(j - i)}")
            i = j
    else:  # no run to collapse (the usual case), checked in C
        runs = tokens
    out: list[str] = []
    i, n = 0, len(runs)
    while i < n:
        best_len, best_reps = 0, 1
        for size in (2, 3, 4):
            if i + 2 * size > n:
                break
            unit = runs[i : i + size]
            reps = 1
            while runs[i + reps * size : i + (reps + 1) * size] == unit:
                reps += 1
            if reps > 1 and size * reps > best_len * best_reps:
                best_len, best_reps = size, reps
        if best_len:
            out.append("(" + ",".join(runs[i : i + best_len]) + ")*" + _bucket(best_reps))
            i += best_len * best_reps
        else:
            out.append(runs[i])
            i += 1
    return ",".join(out) if out else "p"


# --------------------------------------------------------------------------------------------
# features

# Feature regexes run on the UTF-8 bytes: as fast as on ASCII text whatever the characters
# (on a str holding one curly quote, a character-class regex is 20x slower). Each starts with a
# literal so the engine skips ahead instead of trying every position.
_SYMBOL_EMOJI = re.compile(rb"\xe2(?:[\x98-\x9e]|\xad[\x90\x95])")  # U+2600-27BF, U+2B50, U+2B55
_PICTOGRAPH = b"\xf0\x9f"  # U+1F000-1FFFF: emoji, flags, pictographs
_FIRST_PERSON = re.compile(rb"I(?<![A-Za-z0-9_]I)(?=['\xe2 ,.!?;:])")
_SECOND_PERSON = re.compile(rb"ou(?<=(?<![A-Za-z])[Yy]ou)(?:rs?|rself|rselves)?\b")


def _zero_features(chars: int = 0) -> dict:
    features = dict.fromkeys(FEATURE_NAMES, 0.0)
    features["chars"] = float(chars)
    return features


_JSON_FEATURES = dict.fromkeys(FEATURE_NAMES, 0.0)
_JSON_FEATURES["json"] = 1.0


def _json_features(scanned: str, chars: int, refusal: bool = False) -> dict:
    features = _JSON_FEATURES.copy()
    features["chars"] = float(chars)
    features["lines"] = float(scanned.count("\n") + 1) if "\n" in scanned else 1.0  # `in` is a memchr, count is not
    if refusal:
        features["refusal"] = 1.0
    return features


def _text_features(scanned: str, chars: int, *, refusal: bool, n_tools: int,
                   layout: "_Layout | None" = None) -> dict:
    """Style markers of the scanned text.

    Only C-level scans (``str.count``, literal-led regexes) over the text, plus the layout pass;
    counts of inline markers are close approximations, which is all a style profile needs.
    A count is skipped when a one-character ``in`` (memchr, many times faster than a count) shows
    that its pattern cannot occur: most answers lack most of these markers.
    """
    if layout is None:
        layout = _Layout(scanned)
    count = scanned.count
    lines = layout.nonblank_lines
    exclamations = count("!") if "!" in scanned else 0
    questions = count("?") if "?" in scanned else 0
    # Words: spaces between words (indentation excluded) plus one per line.
    words = max(count(" ") - layout.indent_chars + lines, 0) if scanned else 0
    sentences = (count(". ") if "." in scanned else 0) + exclamations + questions + lines
    stars = count("*") if "*" in scanned else 0
    bold = count("**") // 2 if stars > 1 else 0
    backticks = count("`") if "`" in scanned else 0
    urls = count("://") if "/" in scanned else 0
    md_links = count("](") if "]" in scanned and "](" in scanned else 0
    links = md_links + urls - (count("](http") if md_links and urls else 0)
    per_word = 1.0 / words if words else 0.0
    ascii = scanned.isascii()
    data = scanned.encode("utf-8", "surrogatepass")
    first_person = len(_FIRST_PERSON.findall(data)) if "I" in scanned else 0
    second_person = len(_SECOND_PERSON.findall(data)) if "you" in scanned or "You" in scanned else 0
    has_newline = "\n" in scanned
    has_colon = ":" in scanned  # patterns holding a ":" cannot occur without one (a memchr, not a count)
    stripped = scanned.strip()
    cut = stripped.find("\n\n")
    first = stripped if cut < 0 else stripped[:cut]
    cut = stripped.rfind("\n\n")
    last = stripped if cut < 0 else stripped[cut + 2 :]
    tokens = layout.tokens
    items = layout.bullets + layout.numbered
    inner_newlines = 0
    if lines:  # newlines of the stripped text: the layout's line count less those of the ends, not a full count
        head = scanned.find(stripped[0])
        inner_newlines = layout.lines - 1 - count("\n", 0, head) - count("\n", head + len(stripped))
    levels = layout.levels
    return {
        "chars": float(chars),
        "words": float(words),
        "lines": float(layout.lines) if scanned else 0.0,
        "paragraphs": float(layout.paragraphs),
        "headings": float(layout.headings),
        "bullets": float(layout.bullets),
        "numbered_items": float(layout.numbered),
        "bold": float(bold),
        "italic": float(max(stars - 4 * bold - layout.star_bullets, 0) // 2) if stars else 0.0,
        "inline_code": float(max(backticks - 6 * layout.fences, 0) // 2) if backticks else 0.0,
        "tables": float(layout.tables),
        "table_rows": float(layout.table_rows),
        "code_fences": float(layout.fences),
        "links": float(links),
        "blockquotes": float(layout.blockquotes),
        "exclamations": float(exclamations),
        "questions": float(questions),
        "emoji": float(data.count(_PICTOGRAPH) + len(_SYMBOL_EMOJI.findall(data))) if not ascii else 0.0,
        "json": 0.0,
        "tool_calls": float(n_tools),
        "refusal": 1.0 if refusal else 0.0,
        "first_person": round(first_person * per_word, 4),
        "second_person": round(second_person * per_word, 4),
        "avg_sentence_len": round(words / sentences, 2) if sentences else 0.0,
        "h1": float(levels[0]),
        "h2": float(levels[1]),
        "h3": float(levels[2]),
        "h4": float(levels[3]),
        "heading_tight": float(layout.heading_tight),
        "heading_colon": float(layout.heading_colon),
        "heading_numbered": float(layout.heading_numbered),
        "heading_late": 1.0 if layout.last_heading >= 0 and layout.last_heading >= 0.75 * len(scanned) else 0.0,
        "starts_heading": 1.0 if tokens and tokens[0][0] == "h" and tokens[0] != "hr" else 0.0,
        "bold_lines": float(layout.bold_lines),
        "bold_lead_items": float(layout.bold_lead),
        "bold_colon_in": float(count(":**")) if bold and has_colon else 0.0,
        "bold_colon_out": float(count("**:")) if bold and has_colon else 0.0,
        "nested_items": float(layout.nested_items),
        "loose_items": float(layout.loose_items),
        "star_bullets": float(layout.star_bullets),
        "item_period": float(layout.item_period),
        "item_len": round(layout.item_chars / items, 1) if items else 0.0,
        "colon_lines": float(layout.colon_lines),
        "colon_list_tight": float(layout.colon_list_tight),
        "colon_list_loose": float(layout.colon_list_loose),
        "fence_tagged": float(layout.fence_tagged),
        "hrs": float(layout.hrs),
        "first_words": float(first.count(" ") + first.count("\n") + 1) if first else 0.0,
        "last_words": float(last.count(" ") + last.count("\n") + 1) if last else 0.0,
        "ends_paragraph": 1.0 if tokens and tokens[-1] == "p" else 0.0,
        "ends_newline": 1.0 if scanned[-1:].isspace() else 0.0,
        "trailing_spaces": float(count(" \n")) if has_newline else 0.0,
        "curly_quotes": 0.0 if ascii else float(count("\u2019") + count("\u2018") + count("\u201c") + count("\u201d")),
        "straight_quotes": float(count("'")) if "'" in scanned else 0.0,
        "dashes": 0.0 if ascii else float(count("\u2014") + count("\u2013")),
        "spaced_hyphens": float(count(" - ")) if "-" in scanned else 0.0,
        "prose_exclamations": float(count("! ") + count("!\n")) if exclamations else 0.0,
        "colons": float(count(":")) if has_colon else 0.0,
        "parens": float(count("(")) if "(" in scanned else 0.0,
        "math": float((count("\\(") + count("\\[") if "\\" in scanned else 0) + (count("$$") if "$" in scanned else 0)),
        "opens_exclaim": 1.0 if "!" in stripped[:stripped.find("\n") % (len(stripped) + 1)] else 0.0,
        "item_bold_only": float(layout.item_bold_only),
        "line_chars": round((len(stripped) - inner_newlines) / lines, 1) if lines else 0.0,
    }
