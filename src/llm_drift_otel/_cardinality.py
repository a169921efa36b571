"""Bounded metric labels: at most K shape ids per variant and at most N variants.

Past the caps the label value is `other`, so a flood of novel shapes or system prompts can not
blow up the metrics backend. Pure.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

OTHER = "other"


class LabelLimiter:
    def __init__(self, max_shapes_per_variant: int = 20, max_variants: int = 1000) -> None:
        self._k = max_shapes_per_variant
        self._n = max_variants
        self._ids: OrderedDict[str, set[str]] = OrderedDict()
        self._lock = threading.Lock()

    def labels(self, variant: str, shape_id: str) -> tuple[str, str]:
        """(variant label, shape-id label), each `other` past its cap."""
        with self._lock:
            ids = self._ids.get(variant)
            if ids is None:
                if len(self._ids) >= self._n:
                    return OTHER, OTHER
                ids = self._ids[variant] = set()
            if shape_id in ids:
                return variant, shape_id
            if len(ids) >= self._k:
                return variant, OTHER
            ids.add(shape_id)
            return variant, shape_id

    def variant_label(self, variant: str) -> str:
        with self._lock:
            if variant in self._ids:
                return variant
            if len(self._ids) >= self._n:
                return OTHER
            self._ids[variant] = set()
            return variant
