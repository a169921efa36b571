"""Declared shape contracts: what a prompt variant's output must look like.

Pure (stdlib only). ``Contract.check`` runs on every call of a variant that declares one, so it
never raises: a broken contract or a broken output is a violation, not a crash of the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ._fingerprint import ModelOutput, Shape, extract_json

__all__ = ["Contract"]

_MAX_SCHEMA_DEPTH = 64  # deeper schemas/data are treated as a violation rather than recursed into
_JSON_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


@dataclass(frozen=True)
class Contract:
    """A declared shape: required kind, required top-level JSON keys, a JSON Schema subset.

    The schema subset is ``type``, ``properties``, ``required``, ``items``, ``enum``,
    ``additionalProperties``, ``minItems`` and ``maxItems``; other keywords are ignored, so a
    full JSON Schema can be given and the supported part of it is enforced.
    """

    kind: "str | None" = None
    json_keys: "Sequence[str] | None" = None
    json_schema: "Mapping | None" = None

    def __post_init__(self) -> None:
        if self.json_keys is not None and not isinstance(self.json_keys, tuple):
            keys = (self.json_keys,) if isinstance(self.json_keys, str) else self.json_keys
            try:
                object.__setattr__(self, "json_keys", tuple(keys))
            except TypeError:
                pass  # left as given; check() then reports a violation

    def check(self, output: "ModelOutput | str | Mapping | list | None", shape: Shape) -> bool:
        """True when ``output`` (whose fingerprint is ``shape``) meets the contract."""
        try:
            return self._check(output, shape)
        except Exception:  # noqa: BLE001 - a contract must never break the instrumented call
            return False

    def _check(self, output: Any, shape: Shape) -> bool:
        if self.kind is not None and getattr(shape, "kind", None) != self.kind:
            return False
        if self.json_keys is None and self.json_schema is None:
            return True
        if not self._schema_ok():  # a broken schema is a violation on every output
            return False
        documents = _json_documents(output, getattr(shape, "kind", None))
        if not documents:
            return False
        for document in documents:
            if self.json_keys is not None:
                if not isinstance(document, Mapping):
                    return False
                if not isinstance(self.json_keys, tuple):
                    return False
                if any(not isinstance(key, str) or key not in document for key in self.json_keys):
                    return False
            if self.json_schema is not None and not _valid(document, self.json_schema, 0):
                return False
        return True

    def _schema_ok(self) -> bool:
        return self.json_schema is None or _well_formed(self.json_schema, 0)


def _json_documents(output: Any, kind: "str | None") -> list:
    """The JSON the contract applies to: each tool call's arguments, or the output's JSON."""
    if isinstance(output, ModelOutput):
        if kind == "tool_call" or (output.tool_calls and not _has_text(output.text)):
            return [_arguments(call) for call in output.tool_calls if _arguments(call) is not _MISSING]
        output = output.text
    if isinstance(output, (Mapping, list)):
        return [output]
    if isinstance(output, (str, bytes, bytearray)):
        found, value = extract_json(output)
        return [value] if found else []
    return []


_MISSING = object()


def _has_text(text: Any) -> bool:
    return isinstance(text, str) and bool(text.strip())


def _arguments(call: Any) -> Any:
    arguments = call.get("arguments") if isinstance(call, Mapping) else getattr(call, "arguments", None)
    if isinstance(arguments, Mapping):
        return arguments
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, (str, bytes, bytearray)):
        found, value = extract_json(arguments)
        return value if found else _MISSING
    return _MISSING


def _well_formed(schema: Any, depth: int) -> bool:  # noqa: C901 - one keyword per branch
    """The schema uses the supported keywords with values of the right JSON types."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping) or depth > _MAX_SCHEMA_DEPTH:
        return False
    if "type" in schema:
        names = schema["type"]
        names = names if isinstance(names, (list, tuple)) else (names,)
        if not names or any(not isinstance(n, str) or n not in _JSON_TYPES for n in names):
            return False
    if "enum" in schema and not isinstance(schema["enum"], (list, tuple)):
        return False
    required = schema.get("required", ())
    if not isinstance(required, (list, tuple)) or not all(isinstance(k, str) for k in required):
        return False
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        return False
    if not all(isinstance(k, str) and _well_formed(sub, depth + 1) for k, sub in properties.items()):
        return False
    if "additionalProperties" in schema and not _well_formed(schema["additionalProperties"], depth + 1):
        return False
    if "items" in schema:
        items = schema["items"]
        subs = items if isinstance(items, (list, tuple)) else (items,)
        if not all(_well_formed(sub, depth + 1) for sub in subs):
            return False
    for bound in ("minItems", "maxItems"):
        if bound in schema:
            limit = schema[bound]
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                return False
    return True


def _type_matches(value: Any, name: Any) -> bool:
    if name == "object":
        return isinstance(value, Mapping)
    if name == "array":
        return isinstance(value, (list, tuple))
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    raise ValueError(f"unknown JSON type {name!r}")  # invalid schema: check() returns False


def _json_equal(a: Any, b: Any) -> bool:
    """Equality with JSON's types: true is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _valid(value: Any, schema: Any, depth: int) -> bool:  # noqa: C901 - one keyword per branch
    if schema is True or (isinstance(schema, Mapping) and not schema):
        return True
    if schema is False:
        return False
    if not isinstance(schema, Mapping) or depth > _MAX_SCHEMA_DEPTH:
        raise ValueError("invalid schema")

    if "type" in schema:
        expected = schema["type"]
        names = expected if isinstance(expected, (list, tuple)) else (expected,)
        if not names or any(name not in _JSON_TYPES for name in names):
            raise ValueError("invalid schema type")
        if not any(_type_matches(value, name) for name in names):
            return False

    if "enum" in schema:
        options = schema["enum"]
        if not isinstance(options, (list, tuple)):
            raise ValueError("invalid enum")
        if not any(_json_equal(value, option) for option in options):
            return False

    if isinstance(value, Mapping):
        properties = schema.get("properties", {})
        required = schema.get("required", ())
        if not isinstance(properties, Mapping) or not isinstance(required, (list, tuple)):
            raise ValueError("invalid object keywords")
        if any(key not in value for key in required):
            return False
        for key, sub in properties.items():
            if key in value and not _valid(value[key], sub, depth + 1):
                return False
        if "additionalProperties" in schema:
            extra_schema = schema["additionalProperties"]
            for key in value:
                if key not in properties and not _valid(value[key], extra_schema, depth + 1):
                    return False

    if isinstance(value, (list, tuple)):
        for bound, ok in (("minItems", lambda n, b: n >= b), ("maxItems", lambda n, b: n <= b)):
            if bound in schema:
                limit = schema[bound]
                if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                    raise ValueError(f"invalid {bound}")
                if not ok(len(value), limit):
                    return False
        if "items" in schema:
            items = schema["items"]
            if isinstance(items, (list, tuple)):  # positional form (draft 4-7 tuple validation)
                for element, sub in zip(value, items):
                    if not _valid(element, sub, depth + 1):
                        return False
            else:
                for element in value:
                    if not _valid(element, items, depth + 1):
                        return False
    return True
