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


# instrument() options: the Config fields
_OPTION_FIELDS = {f.name for f in fields(Config)} - {"extra"}


# Integer options: the smallest value each accepts (as its variable; `warmup=0` is allowed: verdicts at once).
_INT_OPTIONS = {"warmup": 0, "max_shapes_per_variant": 1, "max_variants": 1, "max_scan_bytes": 1,
                "max_baseline_shapes": 1}


class _Malformed(ValueError):
    pass


def _option(key: str, value: Any) -> Any:
    """An `instrument()` option checked like its variable; raises _Malformed naming what was expected."""
    if key == "primary_models":
        if isinstance(value, str):
            items = tuple(p.strip() for p in value.split(",") if p.strip())
        elif isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(p, str) for p in value):
            items = tuple(p.strip() for p in value if p.strip())
        else:
            raise _Malformed("a comma list or a list of provider/model or model patterns")
        if any(any(c.isspace() for c in p) for p in items):
            raise _Malformed("a comma list or a list of provider/model or model patterns")
        return items
    if key == "baseline_file":
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value) or None
        raise _Malformed("a path")
    if key in _INT_OPTIONS:
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise _Malformed(f"an integer >= {_INT_OPTIONS[key]}") from None
        if isinstance(value, bool) or not isinstance(value, int) or value < _INT_OPTIONS[key]:
            raise _Malformed(f"an integer >= {_INT_OPTIONS[key]}")
        return value
    if key in ("capture_content", "hash_signature_keys"):
        if isinstance(value, bool):
            return value
        low = value.strip().lower() if isinstance(value, str) else None
        if key == "hash_signature_keys" and low in ("plain", "hash"):
            return low == "hash"
        if low in _TRUE or low in _FALSE:  # a string "false" must not turn capture on
            return low in _TRUE
        raise _Malformed("True or False")
    return value


def resolve(options: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    """Environment first, then `instrument(**options)` on top; unknown options are kept in `extra`.

    An option set to None is not given. A malformed option is logged once, naming it, and the value from
    the environment (else the default) is used: configuration never stops the host application.
    """
    config = from_env(env)
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in options.items():
        if key not in _OPTION_FIELDS:
            extra[key] = value
            continue
        if value is None:
            continue
        try:
            known[key] = _option(key, value)
        except _Malformed as expected:
            log_once("config-option:" + key,
                     "llm_drift_otel: ignoring instrument(%s=%.200r): expected %s; using %r",
                     key, value, expected, getattr(config, key))
    return replace(config, **known, extra=extra)
