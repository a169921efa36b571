"""Model-name reasoning: is a served model the requested one (or a snapshot/alias of it)?

`gpt-4o` -> `gpt-4o-2024-08-06` is the same model pinned to a date; `gpt-4o` -> `gpt-4o-mini` is
another model. Pure: no OTel, no SDK.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from functools import lru_cache

# Suffixes that name a snapshot or alias of the same model, not another model:
# dates (-2024-08-06, -20240620, -0613, @20240620), Google's -001 revisions, Bedrock's -v1:0,
# and the moving aliases -latest / -preview-style tags handled by stripping below.
_SNAPSHOT_SUFFIX = re.compile(
    r"""(?:
        [-@](?:19|20)\d{2}-?\d{2}-?\d{2}      # -2024-08-06, -20240620, @20240620
      | -\d{4}                                # -0613, -1106
      | -\d{3}                                # -001, -002 (Google)
      | -v\d+(?::\d+)?                        # -v1:0 (Bedrock)
      | :\d+                                  # :0 (Bedrock)
      | -exp(?:-\d{4})?                       # -exp-0827
      | -preview(?:-\d{2}-\d{2})?             # -preview-05-20
    )+$""",
    re.VERBOSE,
)
_ALIAS_SUFFIX = re.compile(r"-(?:latest|preview|stable)$")
_VENDOR_PREFIX = re.compile(r"^(?:models/|publishers/[^/]+/models/)")


@lru_cache(maxsize=4096)
def canonical(model: str) -> str:
    """Lower-case, no `models/` path, no region/vendor dot prefix like `us.anthropic.`."""
    m = _VENDOR_PREFIX.sub("", model.strip().lower())
    # Bedrock ids: "us.anthropic.claude-3-5-sonnet-20240620-v1:0" -> "claude-3-5-sonnet-20240620-v1:0"
    if "." in m and "/" not in m:
        head, _, tail = m.rpartition(".")
        if tail and not re.match(r"^\d", tail) and re.fullmatch(r"[a-z0-9.\-]+", head) and not re.search(r"\d$", head):
            m = tail if re.match(r"^[a-z]", tail) else m
    return m


@lru_cache(maxsize=4096)
def family(model: str) -> str:
    """The model with snapshot and alias suffixes removed."""
    m = canonical(model)
    m = _ALIAS_SUFFIX.sub("", m)
    m = _SNAPSHOT_SUFFIX.sub("", m)
    return m


def _strip_provider(model: str) -> str:
    return model.rsplit("/", 1)[-1]


def is_substitution(requested: str | None, served: str | None) -> bool:
    """True when `served` is neither `requested` nor a dated snapshot / alias of it."""
    if not requested or not served:
        return False
    if requested == served:
        return False
    if type(requested) is str and type(served) is str:
        return _substitution(requested, served)
    return _is_substitution(requested, served)


@lru_cache(maxsize=4096)  # the same few (requested, served) pairs come back on every call
def _substitution(requested: str, served: str) -> bool:
    return _is_substitution(requested, served)


def _is_substitution(requested: str, served: str) -> bool:
    req, srv = canonical(requested), canonical(served)
    if req == srv:
        return False
    # A gateway may prefix the vendor on one side only ("openai/gpt-4o" vs "gpt-4o").
    if "/" in req or "/" in srv:
        if _strip_provider(req) == _strip_provider(srv):
            return False
        req, srv = _strip_provider(req), _strip_provider(srv)
    return family(req) != family(srv)


def matches_any(patterns: tuple[str, ...], provider: str | None, model: str | None) -> bool:
    """Does `provider/model` (or the bare model, or its family) match one of the `*`-glob patterns?"""
    if not model:
        return False
    candidates = {model.lower(), canonical(model), family(model)}
    if "/" in model:  # a gateway's vendor prefix ("openai/gpt-4o-2024-08-06"): the bare model counts too
        bare = _strip_provider(model)
        candidates |= {bare.lower(), canonical(bare), family(bare)}
    if provider:
        candidates |= {f"{provider.lower()}/{c}" for c in list(candidates)}
    for pattern in patterns:
        p = pattern.lower()
        for c in candidates:
            if fnmatchcase(c, p):
                return True
        # a pattern naming a model family also covers its snapshots
        if "*" not in p and "?" not in p and "/" not in p and family(p) == family(_strip_provider(model)):
            return True
        if "/" in p and "*" not in p and provider:
            pp, _, pm = p.partition("/")
            if pp == provider.lower() and family(pm) == family(model):
                return True
    return False


def qualified(provider: str | None, model: str | None) -> str | None:
    """`provider/model`, keeping a model that already names its vendor as it is."""
    if not model:
        return None
    if not provider or "/" in model:
        return model
    return f"{provider}/{model}"
