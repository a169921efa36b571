"""Prompt variant names from system prompts: a stable short hash of the normalised text.

Whitespace is folded so that re-indenting a prompt does not split its variant. Pure.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

NO_VARIANT = "none"
_WS = re.compile(r"\s+")


@lru_cache(maxsize=2048)  # the same few system prompts come back on every call
def variant_of_system_prompt(system_prompt: str | None) -> str:
    """`sys-` + 12 hex digits of the normalised system prompt, or `none` when there is none."""
    if not system_prompt:
        return NO_VARIANT
    normalised = _WS.sub(" ", system_prompt).strip()
    if not normalised:
        return NO_VARIANT
    digest = hashlib.sha256(normalised.encode("utf-8", "surrogatepass")).hexdigest()
    return "sys-" + digest[:12]
