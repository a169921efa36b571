"""One configuration object, from the environment and `instrument()` options.

A malformed value never stops the host application: it is logged once, naming the variable, and
the default is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from . import semconv as sc
from ._log import log_once


@dataclass(frozen=True)
class Config:
    """Everything the plugin can be told. Options passed to `instrument()` override the environment."""

    primary_models: tuple[str, ...] = ()
    baseline_file: str | None = None
    warmup: int = 20
    max_shapes_per_variant: int = 20
    max_variants: int = 1000
    max_scan_bytes: int = 262144
    hash_signature_keys: bool = False
    capture_content: bool = False
    # Not in the environment: how many shape ids one baseline keeps counts for.
    max_baseline_shapes: int = 64
    # Not in the environment: recent answers per (variant, serving model) that the window test judges.
    window_size: int = 20
    extra: Mapping[str, Any] = field(default_factory=dict)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bad(var: str, raw: str, expected: str, default: object) -> None:
    log_once(
        "config:" + var,
        "llm_drift_otel: ignoring %s=%r: expected %s; using the default %r",
        var, raw, expected, default,
    )


def _int_env(env: Mapping[str, str], var: str, default: int, minimum: int) -> int:
    raw = env.get(var)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        _bad(var, raw, f"an integer >= {minimum}", default)
        return default
    if value < minimum:
        _bad(var, raw, f"an integer >= {minimum}", default)
        return default
    return value


def _bool_env(env: Mapping[str, str], var: str, default: bool) -> bool:
    raw = env.get(var)
    if raw is None:
        return default
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    _bad(var, raw, "true or false", default)
    return default


def _models_env(env: Mapping[str, str], var: str) -> tuple[str, ...]:
    raw = env.get(var)
    if not raw:
        return ()
    items = tuple(p.strip() for p in raw.split(",") if p.strip())
    if not items or any(any(c.isspace() for c in p) for p in items):
        _bad(var, raw, "a comma list of provider/model or model patterns", ())
        return ()
    return items


def _keys_env(env: Mapping[str, str], var: str) -> bool:
    raw = env.get(var)
    if raw is None or raw.strip() == "":
        return False
    low = raw.strip().lower()
    if low in ("plain", "hash"):
        return low == "hash"
    _bad(var, raw, "plain or hash", "plain")
    return False


def from_env(env: Mapping[str, str] | None = None) -> Config:
    """Read SPEC §5 variables; every malformed one is logged once and replaced by its default."""
    env = os.environ if env is None else env
    return Config(
        primary_models=_models_env(env, sc.ENV_PRIMARY_MODELS),
        baseline_file=(env.get(sc.ENV_BASELINE_FILE) or "").strip() or None,
        warmup=_int_env(env, sc.ENV_WARMUP, 20, 1),
        max_shapes_per_variant=_int_env(env, sc.ENV_MAX_SHAPES_PER_VARIANT, 20, 1),
        max_variants=_int_env(env, sc.ENV_MAX_VARIANTS, 1000, 1),
        max_scan_bytes=_int_env(env, sc.ENV_MAX_SCAN_BYTES, 262144, 1),
        hash_signature_keys=_keys_env(env, sc.ENV_SIGNATURE_KEYS),
        capture_content=_bool_env(env, sc.ENV_CAPTURE_CONTENT, False),
    )


# instrument() option name -> (Config field, converter)
_OPTION_FIELDS = {f.name for f in fields(Config)} - {"extra"}


def resolve(options: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    """Environment first, then `instrument(**options)` on top; unknown options are kept in `extra`."""
    config = from_env(env)
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in options.items():
        if key == "primary_models" and isinstance(value, str):
            value = tuple(p.strip() for p in value.split(",") if p.strip())
        elif key == "primary_models" and value is not None:
            value = tuple(value)
        if key in _OPTION_FIELDS:
            known[key] = value
        else:
            extra[key] = value
    return replace(config, **known, extra=extra)
