"""The plugin's logger, and `log_once`: a failing stage is reported once, not on every call."""

from __future__ import annotations

import logging
import threading

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
    """A plugin stage raised: the host call goes on; say so once per stage with the traceback."""
    log_once(
        "stage:" + stage,
        "llm_drift_otel: %s failed (%s: %s); the LLM call is unaffected, this stage is skipped "
        "(further failures of this stage are not logged)",
        stage, type(exc).__name__, exc, exc_info=True,
    )


def reset_reported() -> None:
    """Forget what was logged (tests)."""
    with _reported_lock:
        _reported.clear()
