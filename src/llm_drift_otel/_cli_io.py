"""Reading recorded LLM outputs for the CLI: JSONL rows (or one plain text), with one-line errors.

A user's mistake in an input file is a `InputError` whose message names the file, the line and what was
expected; the CLI prints it as one line and exits 2. Nothing here prints.

Input format (decided on the first non-blank line):

* **JSONL**: the first non-blank line is a JSON object (``{...}`` on one line). Every non-blank line must then be a JSON object
  with the output field (``output`` unless told otherwise) holding the model's answer: a string, parsed
  JSON (an object or an array, for an app that records parsed answers), or null (an empty answer).
  An optional variant field names the prompt variant; an optional ``model`` field names the model.
* **plain text** (``fingerprint`` only): anything else is one output, the whole text.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import IO, Any, Iterator

__all__ = ["InputError", "Row", "read_rows", "describe"]


class InputError(Exception):
    """A user mistake in an input: the message is one line, naming the file and line."""


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line number in the file
    output: Any  # str, dict, list or None
    variant: str | None
    model: str | None


def describe(value: Any) -> str:
    """'a string', 'a number', ... for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def _open(path: str) -> IO[bytes]:
    name = display_name(path)
    if path == "-":
        return sys.stdin.buffer
    try:
        if os.path.isdir(path):
            raise InputError(f"{name}: is a directory, expected a file")
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, expected a file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot open ({exc.strerror or exc})") from None


def _decode(raw: bytes, name: str, number: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
    if number == 1 and text.startswith("\ufeff"):
        text = text[1:]
    return text


def _numbered_lines(stream: IO[bytes], name: str) -> Iterator[tuple[int, str]]:
    try:
        for number, raw in enumerate(stream, 1):
            yield number, _decode(raw, name, number)
    except OSError as exc:
        raise InputError(f"{name}: read error ({exc.strerror or exc})") from None


def _looks_like_jsonl(first: str) -> bool:
    """A first line that is a whole JSON object (or meant to be one: `{...}` on one line) means JSONL."""
    stripped = first.strip()
    return len(stripped) > 1 and stripped.startswith("{") and stripped.endswith("}")


def read_rows(
    path: str,
    *,
    output_field: str = "output",
    variant_field: str | None = None,
    allow_text: bool = False,
    force_text: bool = False,
) -> Iterator[Row]:
    """The outputs of `path` ('-' for standard input), one `Row` per non-blank JSONL line.

    With `allow_text`, a file that is not JSONL is one plain-text output (line 1); `force_text` makes every
    file so. Raises `InputError` (one line: file, line, what was expected) on the first problem, including
    an empty file.
    """
    name = display_name(path)
    stream = _open(path)
    try:
        lines = _numbered_lines(stream, name)
        first_number, first = 0, ""
        for first_number, first in lines:
            if first.strip():
                break
        else:
            expected = "JSONL rows with an '%s' field%s" % (output_field, " or a text" if allow_text or force_text else "")
            raise InputError(f"{name}: empty, expected {expected}")

        if force_text or (allow_text and not _looks_like_jsonl(first)):
            rest = "".join(text for _, text in lines)
            yield Row(first_number, first + rest, None, None)
            return

        yield _row(first, first_number, name, output_field, variant_field)
        for number, text in lines:
            if text.strip():
                yield _row(text, number, name, output_field, variant_field)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _row(text: str, number: int, name: str, output_field: str, variant_field: str | None) -> Row:
    where = f"{name}:{number}"
    try:
        record = json.loads(text)
    except ValueError as exc:
        reason = getattr(exc, "msg", None) or str(exc)
        column = getattr(exc, "colno", None)
        at = f" at column {column}" if column else ""
        raise InputError(f"{where}: invalid JSON ({reason}{at}); expected one JSON object per line "
                         f"with an '{output_field}' field") from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object with an '{output_field}' field, got {describe(record)}")
    if output_field not in record:
        fields = ", ".join(list(record)[:6]) or "none"
        raise InputError(f"{where}: no '{output_field}' field (this row has: {fields}); "
                         f"expected a JSON object with an '{output_field}' field (see --output-field)")
    output = record[output_field]
    if not (output is None or isinstance(output, (str, dict, list))):
        raise InputError(f"{where}: '{output_field}' must be a string (or parsed JSON, or null), got {describe(output)}")
    variant = None
    if variant_field is not None:
        raw = record.get(variant_field)
        if isinstance(raw, str):
            variant = raw.strip() or None
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
            variant = str(raw)
        elif raw is not None:
            raise InputError(f"{where}: '{variant_field}' must be a string naming the prompt variant, got {describe(raw)}")
    model = record.get("model")
    return Row(number, output, variant, model if isinstance(model, str) and model.strip() else None)
