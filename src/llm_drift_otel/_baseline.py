"""Per-variant baselines of output shapes, and the tests that say fallback traffic drifted from them.

Pure standard library on purpose: this module runs on the hot path of every instrumented call and is
also used by the CLI, so it must not pull in OpenTelemetry, an LLM SDK or numpy. It has no relative
imports either, so it can be loaded (and tested) on its own.

A ``Shape`` is consumed by duck type: ``.kind`` (str), ``.id`` (16 hex digits), ``.features``
(mapping name -> number, the same names for every shape).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import tempfile
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any, Iterable

__all__ = ["Baseline", "BaselineRegistry", "Verdict"]

BASELINE_FORMAT = "llm-drift-otel/baseline"
REGISTRY_FORMAT = "llm-drift-otel/baselines"
FORMAT_VERSION = 1

#: Windows smaller than this give no verdict: a handful of responses cannot make a p-value small.
MIN_WINDOW = 5
#: Kinds known to the fingerprint; others are accepted (up to _MAX_KINDS) so a newer fingerprint still works.
KINDS = ("json", "markdown", "prose", "tool_call", "refusal", "code", "empty")
_MAX_KINDS = 16
#: Bound on distinct feature names per baseline, against a shape that invents names per response.
_MAX_FEATURES = 128
_COUNT_MAX = 2**32 - 1
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
# Per-feature stats layout in one flat array('d'): [count, present, mean(log1p), M2(log1p)] * n_features.
_STRIDE = 4


@dataclass(frozen=True)
class Verdict:
    """How a response (``judge``) or a window of responses (``compare``) relates to a baseline."""

    drifted: bool
    score: float  # 0.0 typical of the baseline .. 1.0 never seen in it
    ready: bool  # False while the baseline has fewer than `warmup` samples (then drifted=False, score=0.0)
    samples: int  # baseline samples at judgement time


# --- shared, immutable feature schemas -------------------------------------------------------------
# Every baseline of a process sees the same feature names in the same order, so the name tuple and
# its name -> index dict are interned here once instead of being held by each of ~1000 baselines.
_schema_lock = threading.Lock()
_schemas: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, int]]] = {}
_MAX_SCHEMAS = 256
_EMPTY_SCHEMA: tuple[tuple[str, ...], dict[str, int]] = ((), {})


def _schema(names: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, int]]:
    found = _schemas.get(names)
    if found is not None:
        return found
    made = (names, {n: i for i, n in enumerate(names)})
    with _schema_lock:
        if len(_schemas) < _MAX_SCHEMAS:
            made = _schemas.setdefault(names, made)
    return made


def _id_key(sid: Any) -> int:
    """A shape id as an unsigned 64-bit int (8 bytes in an array instead of a 65-byte str).

    Proper ids are 16 hex digits; anything else is hashed so a foreign Shape still works.
    """
    if isinstance(sid, str) and _HEX16.fullmatch(sid):
        return int(sid, 16)
    data = str(sid).encode("utf-8", "surrogatepass")
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big")


def _logs(features: Any, index: dict[str, int]) -> tuple[list[tuple[int, float]], list[tuple[str, float]]]:
    """(stats offset, log1p(value)) per known feature, (name, log1p(value)) per unknown one.

    Features are counts: a negative value (or -inf) reads as absent (0); NaN, +inf and non-numbers are
    skipped. Done outside the baseline's lock, which then only does a few float updates per feature.
    """
    known: list[tuple[int, float]] = []
    unknown: list[tuple[str, float]] = []
    for name, raw in features.items():
        try:
            x = float(raw)
        except (TypeError, ValueError):
            continue
        if x > 0.0:
            if x == math.inf:
                continue
            y = math.log1p(x)
        elif x == x:
            y = 0.0
        else:
            continue
        j = index.get(name)
        if j is None:
            unknown.append((name, y))
        else:
            known.append((j * _STRIDE, y))
    return known, unknown


def _welford(st: array, j: int, y: float) -> None:
    c = st[j] + 1.0
    st[j] = c
    if y > 0.0:
        st[j + 1] += 1.0
    d = y - st[j + 2]
    mean = st[j + 2] + d / c
    st[j + 2] = mean
    st[j + 3] += d * (y - mean)


# --- exact and approximate tests --------------------------------------------------------------------


def _log_comb(a: int, b: int) -> float:
    return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)


def _fisher(x: int, m: int, b: int, n: int, *, upper_only: bool = False) -> float | None:
    """Fisher's exact test: x of m window responses vs b of n baseline responses have the property.

    Exact (hypergeometric given the margins), so it stays valid for small windows and rare features
    where a normal approximation would give far too small p-values. Two-sided by summing every table
    no more likely than the observed one; ``upper_only`` tests "more often in the window" only.
    Returns None when the margins admit a single table (the test cannot say anything).
    """
    total = m + n
    succ = x + b
    lo = max(0, m - (total - succ))
    hi = min(succ, m)
    if lo >= hi:
        return None
    fail = total - succ
    # log pmf at lo, then the ratio recurrence P(y+1)/P(y) for the rest: one log per term.
    lp = _log_comb(succ, lo) + _log_comb(fail, m - lo) - _log_comb(total, m)
    logs = [lp]
    for y in range(lo, hi):
        lp += math.log((succ - y) * (m - y)) - math.log((y + 1) * (fail - m + y + 1))
        logs.append(lp)
    if upper_only:
        p = sum(math.exp(v) for v in logs[x - lo :])
    else:
        cut = logs[x - lo] + 1e-7  # relative tolerance for ties
        p = sum(math.exp(v) for v in logs if v <= cut)
    return min(1.0, p)


def _mean_test(cb: float, mb: float, m2b: float, cw: float, mw: float, m2w: float) -> float | None:
    """Two-sided z-test of the window mean against the baseline mean (both of log1p values).

    Variance: the larger of (a) the variance of baseline and window pooled *together with their
    difference* (the permutation-null variance: it is > 0 whenever the means differ, so a feature
    that is constant in the baseline cannot make z infinite; |z| <= sqrt(n+m-1)) and (b) the window's
    own variance (Welch-like guard when the window is the more variable side, e.g. a rare feature
    that happens to cluster in one window). Returns None when there is nothing to test.
    """
    if cb < 1 or cw < 1 or cb + cw < 3:
        return None
    d = mw - mb
    tot = cb + cw
    m2 = m2b + m2w + d * d * cb * cw / tot
    var = m2 / (tot - 1)
    if cw > 1:
        var = max(var, m2w / (cw - 1))
    if var <= 1e-12:
        return None
    z = d / math.sqrt(var * (1.0 / cb + 1.0 / cw))
    return math.erfc(abs(z) / math.sqrt(2.0))


class Baseline:
    """What one prompt variant's primary traffic looks like, in about 2 KB.

    State: per shape id a count (at most ``max_shapes`` ids), per kind a count, and per numeric feature
    the sufficient statistics count / presence count / Welford mean and M2 of log1p(value): enough for
    exact presence tests and mean tests, O(#features) memory whatever the traffic.

    Bounded id table (decay-halve): when a new id arrives and the table is full, every count is halved
    (integer division) and ids falling to 0 are dropped; if that freed nothing, the least frequent
    (oldest among ties) goes. Frequent ids survive, one-offs are forgotten, and counts weigh recent
    traffic more, so a new common id can still establish itself. Kinds and features are never decayed.

    ``learn`` and ``judge`` take a per-baseline lock so counts stay consistent under many threads.
    """

    __slots__ = (
        "_lock",
        "_warmup",
        "_max_shapes",
        "_alpha",
        "_n",
        "_novel",
        "_keys",
        "_counts",
        "_mode",
        "_kinds",
        "_kind_counts",
        "_fnames",
        "_findex",
        "_fstats",
    )

    def __init__(self, *, warmup: int = 20, max_shapes: int = 64, alpha: float = 0.01) -> None:
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
        if isinstance(max_shapes, bool) or not isinstance(max_shapes, int) or max_shapes < 1:
            raise ValueError(f"max_shapes must be an integer >= 1, got {max_shapes!r}")
        if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
            raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
        self._lock = threading.Lock()
        self._warmup = warmup
        self._max_shapes = max_shapes
        self._alpha = float(alpha)
        self._n = 0  # primary responses learned
        self._novel = 0  # of those, how many had an id not in the table at the time (for the novelty test)
        self._keys = array("Q")  # shape ids (uint64), parallel to _counts
        self._counts = array("I")  # uint32; halved before it could overflow
        self._mode = 0  # largest count in _counts
        self._kinds = KINDS  # shared tuple unless a foreign kind shows up
        self._kind_counts = array("Q", [0]) * len(KINDS)
        self._fnames, self._findex = _EMPTY_SCHEMA
        self._fstats = array("d")

    # -- properties ---------------------------------------------------------------------------------

    @property
    def samples(self) -> int:
        """Primary responses learned."""
        return self._n

    @property
    def ready(self) -> bool:
        """True once ``warmup`` samples (and at least one) were learned: verdicts before are noise."""
        return self._n >= max(self._warmup, 1)

    @property
    def warmup(self) -> int:
        return self._warmup

    @property
    def max_shapes(self) -> int:
        return self._max_shapes

    @property
    def alpha(self) -> float:
        return self._alpha

    def __repr__(self) -> str:
        return (
            f"Baseline(samples={self._n}, ids={len(self._keys)}, features={len(self._fnames)}, "
            f"warmup={self._warmup}, max_shapes={self._max_shapes})"
        )

    # -- learning -----------------------------------------------------------------------------------

    def learn(self, shape: Any) -> None:
        """Add one primary response."""
        kind = shape.kind
        key = _id_key(shape.id)
        known, unknown = _logs(shape.features, self._findex)
        with self._lock:
            self._n += 1
            self._kind_counts[self._kind_slot(kind)] += 1

            keys = self._keys
            try:
                i = keys.index(key)
            except ValueError:
                self._novel += 1
                if len(keys) >= self._max_shapes:
                    self._make_room()
                self._keys.append(key)
                self._counts.append(1)
                if self._mode < 1:
                    self._mode = 1
            else:
                c = self._counts[i] + 1
                if c > _COUNT_MAX:
                    self._make_room(halve_only=True)
                    c = self._counts[i] + 1
                self._counts[i] = c
                if c > self._mode:
                    self._mode = c

            st = self._fstats
            for j, y in known:  # offsets stay valid: the schema only ever grows at the end
                _welford(st, j, y)
            if unknown:
                self._add_features(unknown)

    def _add_features(self, unknown: list[tuple[str, float]]) -> None:
        # Another thread may have added some since _logs ran; grow the schema once, in shape order,
        # so baselines fed the same shapes end up sharing one interned schema.
        new = [n for n, _ in unknown if isinstance(n, str) and n not in self._findex]
        new = list(dict.fromkeys(new))[: max(0, _MAX_FEATURES - len(self._fnames))]
        if new:
            self._fnames, self._findex = _schema(self._fnames + tuple(new))
            self._fstats.extend([0.0] * (_STRIDE * len(new)))
        index = self._findex
        for name, y in unknown:
            j = index.get(name)
            if j is not None:
                _welford(self._fstats, j * _STRIDE, y)

    def _kind_slot(self, kind: Any) -> int:
        kinds = self._kinds
        if kind not in kinds:
            kind = str(kind)
            if kind not in kinds and len(kinds) >= _MAX_KINDS:
                kind = "other"  # out of room for foreign kinds: the rest share one slot
            if kind not in kinds:
                self._kinds = kinds + (kind,)
                self._kind_counts.append(0)
                return len(kinds)
        return kinds.index(kind)

    def _make_room(self, halve_only: bool = False) -> None:
        """Decay-halve the id table; if nothing fell out, drop the least frequent (oldest among ties)."""
        if halve_only:  # a count about to overflow uint32: keep every id, halve (at least 1)
            self._counts = array("I", [max(1, c >> 1) for c in self._counts])
            self._mode = max(self._counts, default=0)
            return
        pairs = [(k, c >> 1) for k, c in zip(self._keys, self._counts) if c > 1]
        if len(pairs) >= self._max_shapes:
            victim = min(range(len(pairs)), key=lambda t: pairs[t][1])
            del pairs[victim]
        self._keys = array("Q", [k for k, _ in pairs])
        self._counts = array("I", [c for _, c in pairs])
        self._mode = max(self._counts, default=0)

    # -- verdicts -----------------------------------------------------------------------------------

    def judge(self, shape: Any) -> Verdict:
        """One response against the baseline; O(1) in the number of features, no heavy allocation.

        ``drifted`` when the shape id is not in the baseline's table (never seen, or evicted as rare)
        or its kind was never seen. ``score``, with c the id's count, M the mode's count, s the
        kind's share of the baseline:

        * id seen:                 0.5 * (1 - c / M)   in [0, 0.5): 0 for the mode, rises as c shrinks
        * id unseen, kind seen:    1 - 0.5 * s         in (0.5, 1): nearer 1 the rarer the kind
        * kind never seen:         1.0

        So ``drifted`` is exactly ``score >= 0.5``. While not ready: drifted=False, score=0.0.
        """
        key = _id_key(shape.id)
        kind = shape.kind
        with self._lock:
            n = self._n
            if n < max(self._warmup, 1):
                return Verdict(False, 0.0, False, n)
            try:
                kc = self._kind_counts[self._kinds.index(kind)]
            except ValueError:
                kc = 0
            if kc == 0:
                return Verdict(True, 1.0, True, n)
            try:
                i = self._keys.index(key)
            except ValueError:
                return Verdict(True, 1.0 - 0.5 * kc / n, True, n)
            c = self._counts[i]
            mode = self._mode
        return Verdict(False, 0.5 * (1.0 - c / mode), True, n)

    def compare(self, shapes: Iterable[Any]) -> Verdict:
        """A window of responses against the baseline: a two-sided test of "same distribution".

        ``score = 1 - p`` where p is a p-value for "the window comes from the baseline's
        distribution", so a score means the same for every variant; ``drifted = p <= alpha``
        (i.e. score >= 1 - alpha; alpha=0.01 by default: about 1 false alarm per 100 windows at most).
        Not ready when the baseline is warming up or the window has fewer than MIN_WINDOW shapes.
        """
        window = shapes if isinstance(shapes, (list, tuple)) else list(shapes)
        p, n = self._combined_p(window)
        if p is None:
            return Verdict(False, 0.0, False, n)
        return Verdict(p <= self._alpha, min(1.0, max(0.0, 1.0 - p)), True, n)

    def _tests(self, window: list) -> tuple[list[tuple[str, float]] | None, int]:
        """Every individual test of a window as (name, p-value); None when no verdict can be given.

        Tests (all conditional on the window size; one per quantity, none when degenerate):
        * ``kind:<k>``: share of kind k, two-sided Fisher exact;
        * ``novelty``: share of shape ids absent from the table vs. the baseline's own rate of new
          ids while it learned, one-sided Fisher (more new ids = drift; that rate overstates the
          steady state, which keeps the test conservative);
        * ``<f>.present``: share of responses with feature f > 0, two-sided Fisher exact (headings
          in 58% of answers vs. 0% is drift, and so is 0% vs. 58%);
        * ``<f>.mean``: mean of log1p(f), two-sided z-test (see _mean_test). log1p because counts
          and lengths are heavy-tailed: one 40-bullet answer must not move the mean like 40 answers.
        """
        m = len(window)
        keys = [_id_key(s.id) for s in window]
        with self._lock:
            n = self._n
            if n < max(self._warmup, 1) or m < MIN_WINDOW:
                return None, n
            table = self._keys
            novel_w = sum(1 for k in keys if k not in table)
            novel_b = self._novel
            kinds = self._kinds
            kind_b = list(self._kind_counts)
            fnames, findex = self._fnames, self._findex
            fst = array("d", self._fstats)

        tests: list[tuple[str, float]] = []

        # (a) kinds and id novelty
        kind_w: dict[Any, int] = {}
        for s in window:
            kind_w[s.kind] = kind_w.get(s.kind, 0) + 1
        names = list(kinds) + [k for k in kind_w if k not in kinds]
        for i, k in enumerate(names):
            b = kind_b[i] if i < len(kind_b) else 0
            x = kind_w.get(k, 0)
            if b or x:
                p = _fisher(x, m, b, n)
                if p is not None:
                    tests.append((f"kind:{k}", p))
        p = _fisher(novel_w, m, novel_b, n, upper_only=True)
        if p is not None:
            tests.append(("novelty", p))

        # (b) per-feature presence and mean, window stats by Welford as in the baseline
        nf = len(fnames)
        if nf:
            wst = array("d", [0.0]) * (_STRIDE * nf)
            for s in window:
                for j, y in _logs(s.features, findex)[0]:
                    _welford(wst, j, y)
            for i, name in enumerate(fnames):
                j = i * _STRIDE
                cb, pb, mb, m2b = fst[j], fst[j + 1], fst[j + 2], fst[j + 3]
                cw, pw, mw, m2w = wst[j], wst[j + 1], wst[j + 2], wst[j + 3]
                if cb < 1 or cw < 1:
                    continue
                p = _fisher(int(pw), int(cw), int(pb), int(cb))
                if p is not None:
                    tests.append((f"{name}.present", p))
                p = _mean_test(cb, mb, m2b, cw, mw, m2w)
                if p is not None:
                    tests.append((f"{name}.mean", p))
        return tests, n

    def _combined_p(self, window: list) -> tuple[float | None, int]:
        """Bonferroni over the tests that were run: p = min(1, K * min p_i).

        The tests are strongly correlated (chars/lines/paragraphs, kind/json, ...): Fisher's or
        Stouffer's combination assume independence and would raise false alarms; Bonferroni is valid
        under any dependence (conservative), and the structural differences between model families
        are large enough (gpt-4o vs claude-3.5 on windows of 20: p < 1e-6) that the lost power matters
        little. With ~50 tests a single test must reach p <= alpha/50 to raise an alarm.
        """
        tests, n = self._tests(window)
        if tests is None:
            return None, n
        if not tests:
            return 1.0, n
        return min(1.0, len(tests) * min(p for _, p in tests)), n

    # -- persistence --------------------------------------------------------------------------------

    def _to_obj(self) -> dict:
        with self._lock:
            ids = [[format(k, "016x"), c] for k, c in zip(self._keys, self._counts)]
            kinds = {k: c for k, c in zip(self._kinds, self._kind_counts) if c}
            st = self._fstats
            features = {}
            for i, name in enumerate(self._fnames):
                j = i * _STRIDE
                features[name] = [int(st[j]), int(st[j + 1]), st[j + 2], st[j + 3]]
            return {
                "format": BASELINE_FORMAT,
                "version": FORMAT_VERSION,
                "warmup": self._warmup,
                "max_shapes": self._max_shapes,
                "alpha": self._alpha,
                "samples": self._n,
                "novel": self._novel,
                "ids": ids,
                "kinds": kinds,
                "features": features,
            }

    def to_json(self) -> str:
        """The baseline as JSON; ``from_json`` restores it exactly (floats are written by repr)."""
        return json.dumps(self._to_obj(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(
        cls,
        text: str | bytes,
        *,
        warmup: int | None = None,
        max_shapes: int | None = None,
        alpha: float | None = None,
    ) -> "Baseline":
        """Restore ``to_json`` output; keyword overrides replace the stored settings (e.g. from env).

        Raises ValueError naming the problem on malformed, foreign or future-version input.
        """
        try:
            obj = json.loads(text)
        except (ValueError, TypeError) as e:
            raise ValueError(f"not a baseline: invalid JSON ({e})") from None
        return cls._from_obj(obj, warmup=warmup, max_shapes=max_shapes, alpha=alpha)

    @classmethod
    def _from_obj(
        cls,
        obj: Any,
        *,
        warmup: int | None = None,
        max_shapes: int | None = None,
        alpha: float | None = None,
    ) -> "Baseline":
        if not isinstance(obj, dict):
            raise ValueError(f"not a baseline: expected a JSON object, got {type(obj).__name__}")
        _check_header(obj, BASELINE_FORMAT, "baseline")
        b = cls(
            warmup=_int(obj, "warmup") if warmup is None else warmup,
            max_shapes=_int(obj, "max_shapes", 1) if max_shapes is None else max_shapes,
            alpha=_alpha(obj) if alpha is None else alpha,
        )
        n = _int(obj, "samples")
        novel = _int(obj, "novel")
        if novel > n:
            raise ValueError(f"baseline: 'novel' ({novel}) exceeds 'samples' ({n})")

        ids = obj.get("ids")
        if not isinstance(ids, list):
            raise ValueError("baseline: 'ids' must be a list of [hex id, count] pairs")
        keys, counts, seen = array("Q"), array("I"), set()
        for item in ids:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not isinstance(item[0], str)
                or not _HEX16.fullmatch(item[0])
                or not _is_int(item[1])
                or not 1 <= item[1] <= _COUNT_MAX
            ):
                raise ValueError(f"baseline: bad entry in 'ids': {item!r:.80} (want [16 hex digits, count >= 1])")
            k = int(item[0], 16)
            if k in seen:
                raise ValueError(f"baseline: shape id {item[0]} listed twice")
            seen.add(k)
            keys.append(k)
            counts.append(item[1])

        kinds_obj = obj.get("kinds")
        if not isinstance(kinds_obj, dict):
            raise ValueError("baseline: 'kinds' must be an object of kind -> count")
        kinds = list(KINDS) + [k for k in kinds_obj if k not in KINDS]
        if len(kinds) > _MAX_KINDS + 1:
            raise ValueError(f"baseline: too many kinds ({len(kinds)})")
        kind_counts = array("Q", [0]) * len(kinds)
        for k, c in kinds_obj.items():
            if not _is_int(c) or c < 0:
                raise ValueError(f"baseline: count of kind {k!r} must be an integer >= 0, got {c!r:.40}")
            kind_counts[kinds.index(k)] = c
        if sum(kind_counts) != n:
            raise ValueError(f"baseline: kind counts sum to {sum(kind_counts)}, not 'samples' ({n})")

        feats = obj.get("features")
        if not isinstance(feats, dict) or len(feats) > _MAX_FEATURES:
            raise ValueError(f"baseline: 'features' must be an object of at most {_MAX_FEATURES} features")
        st = array("d")
        for name, v in feats.items():
            if not (
                isinstance(v, list)
                and len(v) == 4
                and _is_int(v[0])
                and _is_int(v[1])
                and 0 <= v[1] <= v[0] <= n
                and all(_is_num(t) for t in v[2:])
                and v[3] >= 0
            ):
                raise ValueError(
                    f"baseline: feature {name!r} must be [count, present, mean, m2] with "
                    f"0 <= present <= count <= samples and m2 >= 0, got {v!r:.80}"
                )
            st.extend((float(v[0]), float(v[1]), float(v[2]), float(v[3])))

        b._n = n
        b._novel = novel
        b._keys, b._counts = keys, counts
        b._mode = max(counts, default=0)
        b._kinds = KINDS if len(kinds) == len(KINDS) else tuple(kinds)
        b._kind_counts = kind_counts
        if feats:
            b._fnames, b._findex = _schema(tuple(feats))
        b._fstats = st
        while len(b._keys) > b._max_shapes:  # stored with a larger max_shapes than wanted now
            b._make_room()
        return b


# --- JSON validation helpers -------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _int(obj: dict, key: str, minimum: int = 0) -> int:
    v = obj.get(key)
    if not _is_int(v) or v < minimum:
        raise ValueError(f"baseline: {key!r} must be an integer >= {minimum}, got {v!r:.40}")
    return v


def _alpha(obj: dict) -> float:
    v = obj.get("alpha", 0.01)
    if not _is_num(v) or not 0.0 < v < 1.0:
        raise ValueError(f"baseline: 'alpha' must be a number between 0 and 1, got {v!r:.40}")
    return float(v)


def _check_header(obj: dict, fmt: str, what: str) -> None:
    found = obj.get("format")
    if found != fmt:
        raise ValueError(f"not a {what} file: 'format' is {found!r:.60}, expected {fmt!r}")
    version = obj.get("version")
    if not _is_int(version) or version < 1:
        raise ValueError(f"{what}: 'version' must be a positive integer, got {version!r:.40}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{what}: written by a newer llm-drift-otel (format version {version}); "
            f"this one reads version {FORMAT_VERSION}"
        )


# --- the registry ------------------------------------------------------------------------------------


class BaselineRegistry:
    """The baselines of a process, one per prompt variant, least recently used dropped past a cap.

    The cap bounds memory whatever the number of variants (variants can be derived from hashed system
    prompts, so their number is not under the operator's control).
    """

    def __init__(
        self,
        *,
        max_variants: int = 1000,
        warmup: int = 20,
        max_shapes: int = 64,
        alpha: float = 0.01,
    ) -> None:
        if isinstance(max_variants, bool) or not isinstance(max_variants, int) or max_variants < 1:
            raise ValueError(f"max_variants must be an integer >= 1, got {max_variants!r}")
        Baseline(warmup=warmup, max_shapes=max_shapes, alpha=alpha)  # validates the settings
        self._max_variants = max_variants
        self._warmup = warmup
        self._max_shapes = max_shapes
        self._alpha = alpha
        self._lock = threading.Lock()
        self._baselines: OrderedDict[str, Baseline] = OrderedDict()

    def get(self, variant: str) -> Baseline:
        """The variant's baseline, created empty on first use; marks it most recently used."""
        with self._lock:
            b = self._baselines.get(variant)
            if b is not None:
                self._baselines.move_to_end(variant)
                return b
            b = Baseline(warmup=self._warmup, max_shapes=self._max_shapes, alpha=self._alpha)
            self._baselines[variant] = b
            if len(self._baselines) > self._max_variants:
                self._baselines.popitem(last=False)
            return b

    def __len__(self) -> int:
        return len(self._baselines)

    def __contains__(self, variant: object) -> bool:
        return variant in self._baselines

    def items(self) -> list[tuple[str, Baseline]]:
        """A snapshot, least recently used first."""
        with self._lock:
            return list(self._baselines.items())

    def save(self, path: str | os.PathLike) -> int:
        """Write every baseline to ``path`` atomically; returns how many were written.

        Temp file in the same directory, flush + fsync, then os.replace: a reader (or a crash) sees
        the old file or the new one, never half of one.
        """
        entries = self.items()
        doc = {
            "format": REGISTRY_FORMAT,
            "version": FORMAT_VERSION,
            "baselines": {variant: b._to_obj() for variant, b in entries},
        }
        data = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")
        _atomic_write(os.fspath(path), data)
        return len(entries)

    def load(self, path: str | os.PathLike) -> int:
        """Replace the registry's baselines with those in ``path``; returns how many were loaded.

        Loaded baselines take this registry's warmup/max_shapes/alpha (current configuration wins).
        Raises OSError when the file cannot be read and ValueError (naming the file and the problem)
        when it is corrupt, truncated, foreign or from a newer version; the registry is then unchanged.
        Meant for start-up: baselines created concurrently with a load are replaced.
        """
        path = os.fspath(path)
        with open(path, "rb") as f:
            raw = f.read()
        try:
            doc = json.loads(raw)
        except ValueError as e:
            raise ValueError(f"{path}: not a baselines file (corrupt or truncated JSON: {e})") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: not a baselines file (top level is {type(doc).__name__}, not an object)")
        try:
            _check_header(doc, REGISTRY_FORMAT, "baselines")
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        entries = doc.get("baselines")
        if not isinstance(entries, dict):
            raise ValueError(f"{path}: 'baselines' must be an object of variant -> baseline")
        fresh: OrderedDict[str, Baseline] = OrderedDict()
        for variant, obj in entries.items():
            try:
                fresh[variant] = Baseline._from_obj(
                    obj, warmup=self._warmup, max_shapes=self._max_shapes, alpha=self._alpha
                )
            except ValueError as e:
                raise ValueError(f"{path}: variant {variant!r}: {e}") from None
        while len(fresh) > self._max_variants:  # file order is least recently used first
            fresh.popitem(last=False)
        with self._lock:
            self._baselines = fresh
        return len(fresh)


def _atomic_write(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:  # keep the permissions of the file being replaced; mkstemp's 0600 otherwise
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        try:
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)
