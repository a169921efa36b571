"""Per-call counting without the metrics SDK on the hot path.

`llm_drift.responses` is counted on every LLM response with eleven attributes; a synchronous
OpenTelemetry counter hashes and validates them on every `add`. Here a call adds 1 to a plain dict
keyed by the attribute values (bounded by the label caps), and an `ObservableCounter` reports the
cumulative sums when the reader collects. Exported data is the same monotonic Sum.
"""

from __future__ import annotations

import threading
from typing import Any, Iterable

from opentelemetry.metrics import CallbackOptions, Observation


class CountTable:
    """Monotonic counts per attribute-value tuple; `None` values leave that attribute out."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names
        self._counts: dict[tuple, int] = {}
        self._lock = threading.Lock()

    def add(self, values: tuple) -> None:
        with self._lock:
            self._counts[values] = self._counts.get(values, 0) + 1

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            snapshot = list(self._counts.items())
        names = self._names
        out = []
        for values, count in snapshot:
            attributes: dict[str, Any] = {n: v for n, v in zip(names, values) if v is not None}
            out.append(Observation(count, attributes))
        return out

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())
