"""The plugin's logger, and `log_once`: a failing stage is reported once, not on every call."""

from __future__ import annotations

import logging
import os
import threading
import traceback

logger = logging.getLogger("llm_drift_otel")

_reported: set[str] = set()
_reported_lock = threading.Lock()


def log_once(key: str, message: str, *args: object, exc_info: bool = False, level: int = logging.WARNING) -> None:
    """Log `message` the first time `key` is seen in this process; later calls are silent."""
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    logger.log(level, message, *args, exc_info=exc_info)


def stage_failed(stage: str, exc: BaseException) -> None:
    """A plugin stage raised: the host call goes on; say so once per stage, with where it failed.

    The exception's message is left out on purpose: it can quote the data being processed (a key of
    the model's JSON, a provider error echoing the prompt), and log records are often exported
    (OpenTelemetry logging, log shippers). The type and the frames locate the bug without the data.
    """
    log_once(
        "stage:" + stage,
        "llm_drift_otel: %s failed (%s); the LLM call is unaffected, this stage is skipped "
        "(further failures of this stage are not logged)%s",
        stage, type(exc).__name__, _frames(exc),
    )


def _frames(exc: BaseException) -> str:
    """The traceback's frames (file:line in function), without the exception's message."""
    try:
        frames = traceback.extract_tb(exc.__traceback__)[-8:]
        return "".join(f"\n  {os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in frames)
    except Exception:  # noqa: BLE001 - a log line must never raise
        return ""


def reset_reported() -> None:
    """Forget what was logged (tests)."""
    with _reported_lock:
        _reported.clear()
