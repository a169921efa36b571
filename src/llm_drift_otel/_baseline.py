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
import time
from array import array
from fractions import Fraction
from itertools import chain, compress, count as _count_up, repeat
from operator import add as _add, mul as _mul, sub as _sub, truediv as _truediv
from collections import OrderedDict
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any, Iterable

__all__ = ["Baseline", "BaselineRegistry", "Verdict", "Window"]

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
#: log1p(value) is kept in steps of 1/_QUANT (uint16 in windows), so sums are exact integers.
_QUANT = 256.0
_QMAX = 65535
_INV_QUANT = 1.0 / _QUANT
_QREP = repeat(_QUANT)
_HALF = repeat(0.5)
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
# Per-feature state: y = log1p(value) quantised to steps of 1/_QUANT, kept as exact integer sums
# (presence count, sum of q, sum of q^2): no floating-point drift however long a baseline lives, 20 bytes a
# feature met, and updates that are a few C-level passes. Every feature counts every sample (a feature that
# shows up late counts as 0 before: these are counts of style markers, absent = 0), so a feature a baseline
# never met has three zero sums, which are not stored: most variants meet a handful of the 63 markers.


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


_dense_masks: dict[tuple[str, ...], bytes] = {}


def _dense_mask(names: tuple[str, ...]) -> bytes:
    """Per feature of a schema, 1 if it enters the dense sum (not in SPARSE_ONLY); shared per schema."""
    mask = _dense_masks.get(names)
    if mask is None:
        mask = bytes(nm not in SPARSE_ONLY for nm in names)
        if len(_dense_masks) < _MAX_SCHEMAS:
            _dense_masks[names] = mask
    return mask


_dense_slot_maps: dict[tuple[str, ...], tuple[int, tuple[int, ...], tuple[int, ...]]] = {}


def _dense_slots(names: tuple[str, ...]) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(D, feature index of each dense slot, dense slot of each feature or -1); shared per schema."""
    found = _dense_slot_maps.get(names)
    if found is None:
        mask = _dense_mask(names)
        idx = tuple(j for j, d in enumerate(mask) if d)
        slot_of = [-1] * len(names)
        for i, j in enumerate(idx):
            slot_of[j] = i
        found = (len(idx), idx, tuple(slot_of))
        if len(_dense_slot_maps) < _MAX_SCHEMAS:
            _dense_slot_maps[names] = found
    return found


def _id_key(sid: Any) -> int:
    """A shape id as an unsigned 64-bit int (8 bytes in an array instead of a 65-byte str).

    Proper ids are 16 hex digits; anything else is hashed so a foreign Shape still works.
    """
    if isinstance(sid, str) and _HEX16.fullmatch(sid):
        return int(sid, 16)
    data = str(sid).encode("utf-8", "surrogatepass")
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big")


#: q of the whole numbers 0.._QTABLE_SIZE-1 (every count feature of a short answer), looked up, not computed.
_QTABLE_SIZE = 2048
_QTABLE_GET = {float(i): int(math.log1p(i) * _QUANT + 0.5) for i in range(_QTABLE_SIZE)}.get


_MappingProxy = type(type.__dict__)
# The last shape quantised, against one schema: ``learn`` and ``Window.push`` of the same response (same
# immutable features mapping, same interned schema) share one pass. One slot, replaced whole (atomic).
_last_sparse: tuple = (None, None, None)


def _sparse_qvalues(features: Any, names: tuple, index: dict) -> tuple[list[int], list[int], list[tuple[str, int]]]:
    """The quantised log1p values of a shape's non-zero features: (positions in ``names``, their q,
    unknown (name, q)).

    Most features of one response are 0 (absent markers), so the sums are updated at a few positions
    only. Fast path, C-level maps, when the mapping holds exactly ``names`` in that order (every shape of
    one fingerprint version does); otherwise value by value: negative, NaN or non-numbers read as absent,
    +inf as the largest step, unknown names are returned for the schema to grow.
    """
    global _last_sparse
    last = _last_sparse
    if last[0] is features and last[1] is names:
        return last[2]
    result = None
    if names and len(features) == len(names):
        try:
            if tuple(features) == names:
                values = list(features.values())
                pos = list(compress(range(len(values)), values))  # truthy: non-zero, NaN, odd objects
                qs = list(map(_QTABLE_GET, [values[j] for j in pos]))
                if None in qs:
                    for i, q in enumerate(qs):
                        if q is None:
                            qs[i] = _quantise(values[pos[i]])
                    if 0 in qs:
                        keep = [i for i, q in enumerate(qs) if q]
                        pos = [pos[i] for i in keep]
                        qs = [qs[i] for i in keep]
                result = (pos, qs, [])
        except (TypeError, ValueError, OverflowError):
            result = None
    if result is None:
        pairs: dict[int, int] = {}
        unknown: list[tuple[str, int]] = []
        for name, raw in features.items():
            q = _quantise(raw)
            j = index.get(name)
            if j is None:
                if isinstance(name, str):
                    unknown.append((name, q))
            else:
                pairs[j] = q  # a repeated name (a foreign mapping): the last value wins
        pos = sorted(j for j, q in pairs.items() if q)
        result = (pos, [pairs[j] for j in pos], unknown)
    if type(features) is _MappingProxy:  # a fingerprint's read-only features: safe to reuse for this shape
        _last_sparse = (features, names, result)
    return result


# --- the window statistic --------------------------------------------------------------------------
#
# For every numeric feature f (and every kind share), with y = log1p(value):
#
#   z_f^2 = (mean_window(y) - mean_baseline(y))^2 / (v_f * (1/W + 1/n)),
#   v_f   = max(var_baseline(y), var_floor_f, var_window(y))
#
# T = sum_f min(z_f^2, Z2_CLIP). T is two-sided (fewer headings is as far from the baseline as more) and
# robust: the variance floor (a Bernoulli variance with a +1 prior on the feature's presence) keeps a
# feature that is rare or constant in the baseline from exploding; taking the window's own variance when
# it is the larger (Welch-like) keeps one odd response in a window from looking like a shifted mean; the
# clip bounds what one feature can add. The features are strongly correlated (chars/words/lines, ...), so
# T is not chi-square with one degree per feature; its null is approximated by a scaled chi-square
# (Satterthwaite) with mean NULL_MEAN * k and variance NULL_VAR * k, k = the number of features that vary
# in the baseline. Those two constants are measured (docs/detection.md): windows of 5..100 same-model
# answers from 9 production models put mean/k at 0.54-0.71 and variance/k at 1.6-3.3 (baselines of 250),
# 1.3-3.6 (baselines of 40); the constants take the upper end, so the false-alarm rate stays at or
# below alpha on those models, and the p-value, hence the score, means the same for every variant.

#: Features left out of the dense sum T (they still enter the sparse, largest-term test): markers that
#: mostly restate another one (lines/chars ~ words, table_rows ~ tables, fence_tagged ~ code_fences,
#: exclamations ~ prose_exclamations, ...) add null variance to T but little evidence of their own.
#: Chosen by backward elimination on the corpus's cross-vendor pairs *without* gpt-4o <-> mistral-large,
#: which then served as the out-of-sample check (docs/detection.md). Names of features, never of models.
SPARSE_ONLY = frozenset((
    "lines", "fence_tagged", "chars", "item_period", "parens", "bold_lead_items", "spaced_hyphens",
    "colon_lines", "inline_code", "line_chars", "exclamations", "loose_items", "heading_late", "last_words",
    "table_rows", "colon_list_loose", "bold_colon_out",
))

#: Share of the false-alarm budget given to the sparse (largest single term) test; the rest to the sum.
SPARSE_WEIGHT = 0.1
#: Largest contribution of one feature (or kind share) to the window statistic.
Z2_CLIP = 16.0
#: Null mean and variance of the window statistic per varying feature (see above).
NULL_MEAN = 0.75
NULL_VAR = 4.0
#: Features are counts: log1p(count) of a present feature is at least log1p(1). Used by the variance floor.
_PRESENT_MIN = math.log1p(1.0)


def _quantise(raw: Any) -> int:
    """log1p(value) as an integer number of 1/_QUANT steps; absent, negative, NaN or non-numbers -> 0."""
    try:
        x = float(raw)
    except (TypeError, ValueError):
        return 0
    if not x > 0.0:  # 0, negatives, NaN
        return 0
    if x == math.inf:
        return _QMAX
    q = int(math.log1p(x) * _QUANT + 0.5)
    return q if q < _QMAX else _QMAX


def _chi2_sf(t: float, mean: float, var: float) -> float:
    """P(T >= t) for T ~ a * chi2(nu) with the given mean and variance (Wilson-Hilferty)."""
    if mean <= 0.0 or var <= 0.0:
        return 1.0
    a = var / (2.0 * mean)
    nu = 2.0 * mean * mean / var
    if t <= 0.0:
        return 1.0
    x = t / (a * nu)
    c = 2.0 / (9.0 * nu)
    z = (x ** (1.0 / 3.0) - (1.0 - c)) / math.sqrt(c)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


# --- correlations of the dense markers ------------------------------------------------------------
#
# The markers are correlated (longer answers have more of everything; headings come with bold...), and
# the differences between two models of one style school hide in combinations of them: a fallback may
# put exclamations where the primary never does *given* its length and layout. So the dense part of the
# window statistic is taken after whitening: each baseline also keeps sums of products of its dense
# markers over a subsample of what it learned, and compare uses the correlation they give, shrunk by
# CORR_SHRINK toward none (robust with few samples), through its Cholesky factor L: the window's
# standardised mean difference d becomes L^-1 d, whose terms are close to independent under the null.
# Each term keeps the Welch-like guard of the per-feature test: its variance is at least the window's
# own, approximated from the window's per-feature variances (sum_i (L^-1)_ci^2 var_W(z_i)), so one odd
# response cannot pass for a shift, and is clipped at Z2_CLIP. Until CORR_MIN samples, the per-feature sum.

#: Off-diagonal correlations are multiplied by 1 - CORR_SHRINK.
CORR_SHRINK = 0.4
#: Correlation samples needed before compare whitens; before, the per-feature statistic.
CORR_MIN = 32
#: Every learned response enters the correlation sums up to this many samples, then one in CORR_STRIDE.
_CORR_ALL_UNTIL = 256
_CORR_STRIDE = 4
#: At this many samples the correlation sums are halved: old traffic fades and float32 sums stay precise.
_CORR_HALVE_AT = 1024
#: Null mean and variance, per varying dense feature, of the whitened statistic on a baseline of n
#: samples: NULL_MEAN_WHITE + NULL_MEAN_WHITE_N / n and NULL_VAR_WHITE + NULL_VAR_WHITE_N / n (small
#: baselines estimate means, variances and correlations less well; measured, docs/detection.md).
NULL_MEAN_WHITE = 0.7
NULL_MEAN_WHITE_N = 8.0
NULL_VAR_WHITE = 2.0
NULL_VAR_WHITE_N = 70.0


def _inverse_cholesky_rows(cn: float, csum: array, cross: array, sd: list) -> "array | None":
    """L^-1, L the Cholesky factor of the shrunk correlation of the dense markers, as packed rows.

    ``csum``/``cross``: sums of y and packed upper-triangle sums of y_i y_j over ``cn`` samples;
    ``sd``: per dense slot, the baseline's floored standard deviation of y (the standardisation of
    compare). Row c (c + 1 entries, lower triangle) starts at c (c + 1) / 2 of one float32 array: kept
    with the baseline between compares, where lists of floats took ~80 KB for 46 markers, this is 4.3 KB.
    Single precision moves a window's score by at most ~1e-7 (640 corpus windows: no verdict changed).
    """
    d = len(sd)
    if d == 0 or cn < 2:
        return None
    inv = 1.0 / cn
    mean = [x * inv for x in csum]
    keep = 1.0 - CORR_SHRINK
    offs = [j * d - (j * (j - 1)) // 2 for j in range(d)]  # start of row j of the packed upper triangle
    rows = []
    for i in range(d):
        mi, si = mean[i], sd[i]
        row = [keep * (cross[offs[j] + i - j] * inv - mi * mean[j]) / (si * sd[j]) for j in range(i)]
        row.append(max(1.0, (cross[offs[i]] * inv - mi * mi) / (si * si)))
        rows.append(row)
    # Cholesky, row by row (R = L L^T; the diagonal >= 1 and the shrink keep R positive definite)
    lower = []
    for i in range(d):
        ri = rows[i]
        li = [0.0] * (i + 1)
        for j in range(i + 1):
            lj = lower[j] if j < i else li
            acc = ri[j] - sum(map(_mul, li[:j], lj[:j]))
            if j == i:
                if acc <= 1e-12:
                    return None
                li[i] = math.sqrt(acc)
            else:
                li[j] = acc / lj[j]
        lower.append(li)
    # M = L^-1 (lower triangular): M[i][i] = 1/L[i][i]; M[i][j] = -sum_{k=j..i-1} L[i][k] M[k][j] / L[i][i]
    inverse = []
    for i in range(d):
        li = lower[i]
        mi = [0.0] * (i + 1)
        dii = 1.0 / li[i]
        for j in range(i):
            acc = 0.0
            for k in range(j, i):
                acc += li[k] * inverse[k][j]
            mi[j] = -acc * dii
        mi[i] = dii
        inverse.append(mi)
    return array("f", chain.from_iterable(inverse))



def _whitened_sum(white: tuple, dq: list, wsum: Any, wsq: Any, m: int, n: float, clip: float) -> float:
    """sum_c min(z_c^2, clip) over the whitened dense terms (see above); dq = sum_W(q) - m mean_n(q).

    ``white``: (dense feature indices, 1/sd per dense slot, packed rows of L^-1 over the markers the baseline
    has met (_inverse_cholesky_rows), (those markers' dense slots, compact position per dense slot or
    _INACTIVE): _active_set). A marker never met has the identity's row and column: its term is its own
    standardised difference. The squares of L^-1 (the variance guard) are taken here, not kept: the same
    products, half the memory.
    """
    idx, isd, inverse, (act, cpos) = white
    mq = m * _QUANT
    vq = 1.0 / (m * (m - 1.0) * _QUANT * _QUANT)
    zbar = [dq[j] * s / mq for j, s in zip(idx, isd)]  # standardised mean differences
    varz = [(m * wsq[j] - wsum[j] * wsum[j]) * vq * s * s for j, s in zip(idx, isd)]  # window variances
    se = 1.0 / m + 1.0 / n
    t = 0.0
    d = len(zbar)
    active = [i for i in range(d) if zbar[i] or varz[i]]
    if 3 * len(active) < d:
        # Few markers in play (JSON or tool-call variants: a handful of the 46 vary): walk only their
        # columns of L^-1; rows no active marker reaches contribute 0.
        pms = [0.0] * d
        vws = [0.0] * d
        for i in active:
            zi, vi = zbar[i], varz[i]
            ci = cpos[i]
            if ci == _INACTIVE:
                pms[i] += zi
                vws[i] += vi
                continue
            for cc in range(ci, len(act)):
                x = inverse[(cc * (cc + 1)) // 2 + ci]
                c = act[cc]
                pms[c] += x * zi
                vws[c] += x * x * vi
        for pm, vw in zip(pms, vws):
            if pm:
                z2 = pm * pm / ((vw if vw > 1.0 else 1.0) * se)
                t += z2 if z2 < clip else clip
        return t
    zact = [zbar[i] for i in act]
    vact = [varz[i] for i in act]
    start = 0
    for c in range(d):
        cc = cpos[c]
        if cc == _INACTIVE:
            pm, vw = zbar[c], varz[c]
        else:
            row = inverse[start : start + cc + 1]
            start += cc + 1
            pm = sum(map(_mul, row, zact))
            vw = sum(map(_mul, map(_mul, row, row), vact))
        z2 = pm * pm / ((vw if vw > 1.0 else 1.0) * se)
        t += z2 if z2 < clip else clip
    return t


def _presence_p(bpres: Any, n: int, wpres: Any, m: int) -> float:
    """Smallest two-sided p-value, over the features, of "the window shows this marker as often as the
    baseline": kw of m window responses have it, kb of n baseline responses did. Beta-binomial (the
    baseline's share is itself uncertain: Beta(kb + 1/2, n - kb + 1/2)), so a marker the primary never
    used, in 3 of 20 fallback answers, is strong evidence, while the mean test's Welch guard (the window's
    own variance) would hide it. Features within ~2 sd of the expected count are skipped (cheap), and each
    distinct (kb, kw) pair is looked at once: most markers share a few, (0, 0) above all."""
    best = 1.0
    lg = math.lgamma
    for kb, kw in set(zip(bpres, wpres)):
        p0 = (kb + 0.5) / (n + 1.0)
        expect = m * p0
        if abs(kw - expect) < 2.0 * math.sqrt(expect * (1.0 - p0)) + 1.0:
            continue
        a, b = kb + 0.5, n - kb + 0.5
        norm = lg(m + 1) + lg(a + b) - lg(a) - lg(b) - lg(m + a + b)
        ks = range(kw, m + 1) if kw > expect else range(0, kw + 1)
        tail = sum(math.exp(norm - lg(k + 1) - lg(m - k + 1) + lg(k + a) + lg(m - k + b)) for k in ks)
        if 2.0 * tail < best:
            best = 2.0 * tail
    return best


_EMPTY_F = array("f")
_EMPTY_Q = array("q")
_EMPTY_I = array("I")
#: Compact position of a dense slot whose marker a baseline's correlation has not met.
_INACTIVE = 255
_NO_ACTIVE: tuple = ((), b"")
_active_sets: dict[tuple, tuple] = {}
#: Shared (markers met, positions) pairs kept. Sets a baseline grew out of, or of baselines long evicted,
#: pile up over a process's life; when full the table starts over, so new baselines share again (those
#: holding an older pair keep it).
_MAX_ACTIVE_SETS = 1024


def _active_set(size: int, act: tuple) -> tuple:
    """(act, compact position per index below ``size`` as bytes, _INACTIVE if absent), shared: baselines of
    one style meet the same markers. Dense markers use ``size`` = D; features a 256-byte table, so that
    ``bytes.translate`` maps a whole response's feature indices in one C call."""
    key = (size, act)
    found = _active_sets.get(key)
    if found is None:
        if len(act) >= _INACTIVE:
            raise ValueError(f"baseline: {len(act)} markers met, at most {_INACTIVE - 1}")
        cpos = bytearray([_INACTIVE]) * size
        for k, i in enumerate(act):
            cpos[i] = k
        found = (act, bytes(cpos))
        if len(_active_sets) >= _MAX_ACTIVE_SETS:
            _active_sets.clear()
        _active_sets[key] = found
    return found


def _placed_sums(csum: Any, cross: Any, to: "list | tuple", dim: int) -> tuple[list, list]:
    """Correlation sums over ``len(to)`` markers (packed), placed at the ascending positions ``to`` of a
    ``dim``-marker layout, zeros elsewhere: to grow a baseline's sums, or write the full layout to a file."""
    sums = [0.0] * dim
    full = [0.0] * (dim * (dim + 1) // 2)
    b = len(to)
    for p, i in enumerate(to):
        sums[i] = csum[p]
        base = i * dim - (i * (i - 1)) // 2 - i
        src = p * b - (p * (p - 1)) // 2 - p
        for q in range(p, b):
            full[base + to[q]] = cross[src + q]
    return sums, full


def _features_met(act: tuple) -> tuple:
    """(features met, ascending schema indices; their position in a baseline's sums per schema index, as
    a ``bytes.translate`` table)."""
    return _active_set(256, act)


_NO_FEATURES = _features_met(())


def _gather(sums: array, at: bytes) -> list:
    """``sums[p]`` for each position p of ``at``, 0 where p is _INACTIVE (C-level maps only): to read a
    baseline's feature sums over the whole schema, or to move them into a grown set of features met."""
    padded = sums.tolist()
    padded += [0] * (_INACTIVE + 1 - len(padded))
    return list(map(padded.__getitem__, at))


_zero_blocks: dict[int, array] = {}


def _zeros_h(k: int) -> array:
    """k zero uint16s, to blank one ring slot (shared per k; only ever copied from)."""
    block = _zero_blocks.get(k)
    if block is None:
        block = array("H", bytes(2 * k))
        if len(_zero_blocks) < _MAX_SCHEMAS:
            _zero_blocks[k] = block
    return block


class Window:
    """The last ``size`` responses of one stream (e.g. one variant served by one fallback model).

    ``push`` is O(#features): each response's features are kept quantised in a ring buffer, and running
    sums (of the values and their squares, as exact integers) get the new response added and the evicted
    one subtracted, so ``Baseline.compare(window)`` reads the window in O(#features) whatever its size.
    Thread-safe (one lock per window); about 2.4 KB + 24 bytes per feature for size 20 and 60 features.
    ``Baseline.compare(window)`` gives the same verdict as ``Baseline.compare(shapes)`` for the same shapes.
    """

    __slots__ = ("_lock", "_size", "_names", "_index", "_keys", "_ring", "_kinds", "_pos", "_count", "_sum",
                 "_sq", "_pres", "_kind_counts", "_kind_names")

    def __init__(self, size: int = 20) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be an integer >= 1, got {size!r}")
        self._lock = threading.Lock()
        self._size = size
        self._names, self._index = _EMPTY_SCHEMA
        self._keys: frozenset = frozenset()
        self._ring = array("H")        # size x len(names), slot-major
        self._kinds = array("B", bytes(size))  # kind slot of each response
        self._kind_names: tuple = KINDS
        self._kind_counts = array("I", [0]) * len(KINDS)
        self._pos = 0                  # next slot to write
        self._count = 0                # responses held (<= size)
        self._sum = array("q")         # per feature: sum of quantised values
        self._sq = array("q")          # per feature: sum of their squares
        self._pres = array("q")        # per feature: responses where it is > 0

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"Window(size={self._size}, held={self._count}, features={len(self._names)})"

    def clear(self) -> None:
        with self._lock:
            self._pos = self._count = 0
            self._ring = array("H", bytes(2 * self._size * len(self._names)))
            self._sum = array("q", bytes(8 * len(self._names)))
            self._sq = array("q", bytes(8 * len(self._names)))
            self._pres = array("q", bytes(8 * len(self._names)))
            self._kind_counts = array("I", [0]) * len(self._kind_names)

    def push(self, shape: Any) -> None:
        """Add one response; past ``size`` responses, the oldest one leaves the window."""
        features = shape.features
        last = _last_sparse
        # quantised already against this window's schema with no unknown name (learn of the same response):
        # nothing to adopt; else see whether the shape brings new feature names
        if not (last[0] is features and last[1] is self._names and not last[2][2]) \
                and not (features.keys() <= self._keys):
            self._grow(features)
        kind = shape.kind
        with self._lock:
            names = self._names
            pos, qs, _ = _sparse_qvalues(features, names, self._index)
            k = len(names)
            kslot = self._kind_slot(kind)
            start = self._pos * k
            ring = self._ring
            # new arrays (copies), never mutated once published: _snapshot hands them out without a copy
            sums = self._sum[:]
            sqs = self._sq[:]
            pres = self._pres[:]
            if self._count == self._size:  # evict the oldest, whose slot is the one written now
                old = ring[start : start + k]
                for j in compress(range(k), old):
                    q = old[j]
                    sums[j] -= q
                    sqs[j] -= q * q
                    pres[j] -= 1
                ring[start : start + k] = _zeros_h(k)
                self._kind_counts[self._kinds[self._pos]] -= 1
            else:
                self._count += 1
            for j, q in zip(pos, qs):
                sums[j] += q
                sqs[j] += q * q
                pres[j] += 1
                ring[start + j] = q
            self._sum = sums
            self._sq = sqs
            self._pres = pres
            self._kinds[self._pos] = kslot
            self._kind_counts[kslot] += 1
            self._pos = (self._pos + 1) % self._size

    def _kind_slot(self, kind: Any) -> int:
        kinds = self._kind_names
        if kind in kinds:
            return kinds.index(kind)
        kind = str(kind)
        if kind in kinds:
            return kinds.index(kind)
        if len(kinds) >= _MAX_KINDS:
            kind = "other"
            if kind in kinds:
                return kinds.index(kind)
        self._kind_names = kinds + (kind,)
        self._kind_counts.append(0)
        return len(kinds)

    def _grow(self, features: Any) -> None:
        """Adopt the feature names of a shape (new names are appended; existing slots keep their place)."""
        new = [n for n in features if isinstance(n, str) and n not in self._index]
        if not new:
            return
        with self._lock:
            old_names = self._names
            new = [n for n in dict.fromkeys(new) if n not in self._index]
            new = new[: max(0, _MAX_FEATURES - len(old_names))]
            if not new:
                return
            names, index = _schema(old_names + tuple(new))
            k_old, k = len(old_names), len(names)
            ring = array("H", bytes(2 * self._size * k))
            for slot in range(self._size):
                ring[slot * k : slot * k + k_old] = self._ring[slot * k_old : (slot + 1) * k_old]
            self._ring = ring
            self._sum.extend([0] * (k - k_old))
            self._sq.extend([0] * (k - k_old))
            self._pres.extend([0] * (k - k_old))
            self._names, self._index = names, index
            self._keys = frozenset(names)

    def _snapshot(self) -> tuple:
        with self._lock:
            # the sums are replaced, never mutated, by push: no copy needed
            return (self._count, self._names, self._index, self._sum, self._sq, self._pres,
                    self._kind_names, self._kind_counts[:])


def _share_term(t: float, keff: int, kb: float, n: float, kw: int, m: int, clip: float, name: str,
                terms: "list | None") -> tuple[float, int, float]:
    """Add the term of one Bernoulli share (kb of n baseline responses vs kw of m window responses)."""
    p = kb / n
    pt = (kb + 1.0) / (n + 2.0)
    v = max(p * (1.0 - p), pt * (1.0 - pt))
    pw = kw / m
    if m > 1:
        v = max(v, pw * (1.0 - pw) * m / (m - 1))
    d = pw - p
    z2 = d * d / (v * (1.0 / m + 1.0 / n))
    if terms is not None:
        terms.append((name, z2))
    if 0 < kb < n:
        keff += 1
    return t + (z2 if z2 < clip else clip), keff, z2


_LOCK_STRIPES = 64
_BASELINE_LOCKS = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
_lock_turn = _count_up()  # a race at worst gives two baselines the same stripe


class Baseline:
    """What one prompt variant's primary traffic looks like: 1-2 KB plus the marker correlations.

    State: per shape id a count (at most ``max_shapes`` ids), per kind a count, per numeric feature it has
    met the presence count and exact integer sums of quantised log1p(value) and of its square, and float32 sums
    of products of the dense markers it has met (see "correlations of the dense markers"; 4 bytes x
    a(a+1)/2 for a markers met: a handful for JSON variants, 35-40 of the 46 for markdown ones): enough for
    presence tests and whitened mean tests, O(#features^2) memory whatever the traffic.

    Bounded id table (decay-halve): when a new id arrives and the table is full, every count is halved
    (integer division) and ids falling to 0 are dropped; if that freed nothing, the least frequent
    (oldest among ties) goes. Frequent ids survive, one-offs are forgotten, and counts weigh recent
    traffic more, so a new common id can still establish itself. Kinds and features are never decayed.

    ``learn`` and ``judge`` take the baseline's lock so counts stay consistent under many threads. Locks
    are striped (one of _LOCK_STRIPES shared by every _LOCK_STRIPES-th baseline, 56 bytes saved each): no
    code holds two baselines' locks at once, so sharing one cannot deadlock, only rarely wait.
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
        "_fmet",
        "_fpres",
        "_fsum",
        "_fsq",
        "_derived",
        "_cnames",
        "_cn",
        "_cseen",
        "_cact",
        "_corr",
        "_white",
    )

    def __init__(self, *, warmup: int = 20, max_shapes: int = 64, alpha: float = 0.01) -> None:
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
        if isinstance(max_shapes, bool) or not isinstance(max_shapes, int) or max_shapes < 1:
            raise ValueError(f"max_shapes must be an integer >= 1, got {max_shapes!r}")
        if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
            raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
        self._lock = _BASELINE_LOCKS[next(_lock_turn) % _LOCK_STRIPES]
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
        self._fmet = _NO_FEATURES  # which features the sums below hold, and where (_features_met)
        self._fpres = _EMPTY_I    # per feature met: responses where it is > 0
        self._fsum = _EMPTY_Q     # per feature met: sum of quantised log1p values
        self._fsq = _EMPTY_Q      # per feature met: sum of their squares
        # compare's per-feature constants (baseline means, floored variances), derived from the sums
        # above and refreshed lazily: see _derived_stats
        self._derived: tuple | None = None
        # correlation sums of the dense markers (see "correlations of the dense markers"), for the schema
        # _cnames; created at the first learn, whitening (L^-1 rows) derived from them lazily by compare
        self._cnames: tuple = ()
        self._cn = 0.0
        self._cseen = 0
        self._cact = _NO_ACTIVE  # (dense slots with correlation data, compact position of each slot)
        # float32: the sums of y of the markers met, then the packed upper triangle of their products
        self._corr = _EMPTY_F
        self._white: tuple | None = None

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
        names = self._fnames
        pos, qs, unknown = _sparse_qvalues(shape.features, names, self._findex)
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

            if self._fnames is names:  # else another thread grew the schema since: realigned by name below
                # the sums are read and written under this lock only: updated in place, at the non-zero steps
                at = bytes(pos).translate(self._fmet[1])  # positions in the sums of the features met
                if _INACTIVE in at:  # a feature this baseline meets for the first time
                    self._meet_features(pos)
                    at = bytes(pos).translate(self._fmet[1])
                fsum, fsq, fpres = self._fsum, self._fsq, self._fpres
                for i, q in zip(at, qs):
                    fsum[i] += q
                    fsq[i] += q * q
                    fpres[i] += 1
                self._learn_correlation(names, pos, qs)
            else:
                unknown = unknown + [(names[j], q) for j, q in zip(pos, qs)]
            if unknown:
                self._add_features(unknown)

    def _learn_correlation(self, names: tuple, pos: list, qs: list) -> None:
        """(Under the lock.) Add one response to the correlation sums: every one up to _CORR_ALL_UNTIL
        samples, then one in _CORR_STRIDE (a correlation needs a few hundred samples, not all of them)."""
        self._cseen += 1
        if self._cn >= _CORR_ALL_UNTIL and self._cseen % _CORR_STRIDE:
            return
        d, _, slot_of = _dense_slots(names)
        if self._cnames is not names:  # first learn, or the schema grew: start over for the new schema
            self._cnames = names
            self._cn = 0.0
            self._cact = _NO_ACTIVE
            self._corr = _EMPTY_F
            self._white = None
        ys = [(slot_of[j], q * _INV_QUANT) for j, q in zip(pos, qs) if slot_of[j] >= 0]
        cpos = self._cact[1]
        if len(cpos) == d:  # the same slots in the compact sums (ascending too)
            ys = [(cpos[i], y) for i, y in ys]
            fresh = ys and max(ys)[0] == _INACTIVE  # a marker this baseline's correlation has not met yet
        else:
            fresh = True
        if fresh:
            self._activate(d, [slot_of[j] for j in pos if slot_of[j] >= 0])
            cpos = self._cact[1]
            ys = [(cpos[slot_of[j]], q * _INV_QUANT) for j, q in zip(pos, qs) if slot_of[j] >= 0]
        a = len(self._cact[0])
        corr = self._corr
        for k, (i, yi) in enumerate(ys):
            corr[i] += yi
            base = a + i * a - (i * (i - 1)) // 2 - i  # packed upper triangle after the sums: (i, j) at base + j
            for j, yj in ys[k:]:
                corr[base + j] += yi * yj
        self._cn += 1.0
        if self._cn >= _CORR_HALVE_AT:
            self._cn *= 0.5
            self._corr = array("f", [x * 0.5 for x in corr])

    def _activate(self, d: int, slots: list) -> None:
        """(Under the lock.) Make room in the correlation sums for dense slots seen for the first time.

        The sums cover only the markers this baseline has met (a JSON variant: a handful of the 46), so a
        marker never seen costs nothing; its row of the correlation is exactly the identity's, which
        compare treats as such. Existing sums move to their new packed positions unchanged."""
        old_act, _ = self._cact
        act = tuple(sorted(set(old_act).union(slots)))
        moved = [act.index(i) for i in old_act]  # ascending, as both are sorted
        sums, cross = _placed_sums(*self._corr_sums(), moved, len(act))
        self._cact = _active_set(d, act)
        self._corr = array("f", sums + cross)
        # a cached whitening stays valid (it carries its own positions) and is rebuilt on its usual schedule

    def _corr_sums(self) -> tuple[array, array]:
        """(Under the lock.) The correlation's sums of y and packed sums of products, apart."""
        a = len(self._cact[0])
        return self._corr[:a], self._corr[a:]

    def _meet_features(self, features: Any) -> None:
        """(Under the lock.) Make room in the feature sums for features met for the first time; the
        sums of those met before move to their new positions unchanged."""
        old_act, old_at = self._fmet
        act = tuple(sorted(set(old_act).union(features)))
        self._fmet = _features_met(act)
        at = bytes(act).translate(old_at)  # where each feature met now was in the old sums
        self._fpres = array("I", _gather(self._fpres, at))
        self._fsum = array("q", _gather(self._fsum, at))
        self._fsq = array("q", _gather(self._fsq, at))

    def _add_features(self, unknown: list[tuple[str, int]]) -> None:
        # Another thread may have added some meanwhile; grow the schema once, in shape order, so baselines
        # fed the same shapes end up sharing one interned schema.
        new = [n for n, _ in unknown if n not in self._findex]
        new = list(dict.fromkeys(new))[: max(0, _MAX_FEATURES - len(self._fnames))]
        if new:
            self._fnames, self._findex = _schema(self._fnames + tuple(new))
        index = self._findex
        hits = [(index[name], q) for name, q in unknown if q and name in index]
        if hits:
            self._meet_features([j for j, _ in hits])
            at = self._fmet[1]
            for j, q in hits:
                self._fsum[at[j]] += q
                self._fsq[at[j]] += q * q
                self._fpres[at[j]] += 1

    def _over_schema(self, sums: array) -> list:
        """(Under the lock.) One of the per-feature-met sums as a list over every feature of the schema."""
        return _gather(sums, self._fmet[1][: len(self._fnames)])

    def _feature_sums(self) -> tuple[list, list, list]:
        """(Under the lock.) Presence counts, sums and sums of squares for every feature of the schema."""
        return self._over_schema(self._fpres), self._over_schema(self._fsum), self._over_schema(self._fsq)

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

    def compare(self, shapes: "Window | Iterable[Any]") -> Verdict:
        """A window of responses against the baseline: a two-sided test of "same distribution".

        ``shapes`` is a ``Window`` (read in O(#features)) or any iterable of shapes (put in a window
        first: the same shapes give the same verdict either way). The statistic sums, over every
        numeric feature and every kind share, the squared standardised difference between the window's
        mean of log1p(value) and the baseline's, each bounded (see the module notes); its p-value comes
        from a scaled chi-square fitted to same-model windows of real answers. ``score = 1 - p``, so a
        score means the same for every variant; ``drifted = p <= alpha``: about ``alpha`` of the windows
        of the primary's own traffic (measured: at most alpha, docs/detection.md) raise it.
        Not ready (drifted=False, score=0.0) while the baseline warms up or with fewer than MIN_WINDOW
        responses in the window.
        """
        t, keff, n, zmax, terms, whitened, p_pres = self._statistic(shapes)
        if t is None:
            return Verdict(False, 0.0, False, n)
        k = max(keff, 1)
        if whitened:
            null_mean, null_var = NULL_MEAN_WHITE + NULL_MEAN_WHITE_N / n, NULL_VAR_WHITE + NULL_VAR_WHITE_N / n
        else:
            null_mean, null_var = NULL_MEAN, NULL_VAR
        # dense alternatives (many markers shifted a little): the sum; sparse ones (one marker far off):
        # the largest single term, Bonferroni over the terms; the two p-values combined by a weighted
        # Bonferroni (SPARSE_WEIGHT of alpha to the sparse test: the whitened sum already carries most
        # single-marker shifts, and a lone extreme marker in the primary's own traffic is not rare).
        p_sum = _chi2_sf(t, null_mean * k, null_var * k)
        p_max = min(1.0, terms * math.erfc(math.sqrt(zmax / 2.0)))
        # the sparse budget is split between the largest mean term and the presence test
        p = min(1.0, p_sum / (1.0 - SPARSE_WEIGHT), 2.0 * p_max / SPARSE_WEIGHT, 2.0 * p_pres / SPARSE_WEIGHT)
        return Verdict(p <= self._alpha, min(1.0, max(0.0, 1.0 - p)), True, n)

    def _statistic(self, shapes: Any, detail: bool = False) -> tuple:
        """(T, number of varying features and kinds, samples, largest z^2, number of terms).

        T is None when no verdict can be given. With ``detail``, (T, k, samples, [(name, z^2 before the
        clip) for every term]) instead, for tests and debugging.
        """
        if isinstance(shapes, Window):
            window = shapes
        else:
            items = shapes if isinstance(shapes, (list, tuple)) else list(shapes)
            window = Window(max(len(items), 1))
            for s in items:
                window.push(s)
        m, wnames, windex, wsum, wsq, wpres, wkinds, wkc = window._snapshot()
        with self._lock:
            n = self._n
            if n < max(self._warmup, 1) or m < MIN_WINDOW:
                return (None, 0, n, []) if detail else (None, 0, n, 0.0, 0, False, 1.0)
            fnames = self._fnames
            derived = self._derived_stats(n, m)
            white = self._whitening(derived[5]) if m > 1 else None
            kinds = self._kinds
            kind_b = self._kind_counts[:]
            bpres = self._over_schema(self._fpres)
        terms: list = [] if detail else None  # type: ignore[assignment]

        inv_m = 1.0 / m
        clip = Z2_CLIP
        k = len(fnames)
        if wnames is not fnames:  # align the window's sums on the baseline's features
            wsum = [wsum[windex[nm]] if nm in windex else 0 for nm in fnames]
            wsq = [wsq[windex[nm]] if nm in windex else 0 for nm in fnames]
            wpres = [wpres[windex[nm]] if nm in windex else 0 for nm in fnames]
        # Everything in window units, on the integer sums: with dq = sum_W(q) - m*mean_n(q) and
        # a = m*sum_W(q^2) - sum_W(q)^2 (= m(m-1) var_W in q units), z^2 = c * dq^2 / max(b, a) where b is
        # the baseline's floored variance in the same units (cached per m) and c = scale (m-1)/m.
        mbq, vbq, keff, n_stats, dense, _ = derived
        scale = 1.0 / (inv_m + 1.0 / n_stats)
        c = scale * (m - 1.0) / m if m > 1 else scale
        dq = list(map(_sub, wsum, mbq))
        if m > 1:
            r = list(map(_truediv, map(_mul, dq, dq),
                         map(max, vbq, map(_sub, map(_mul, wsq, repeat(m, k)), map(_mul, wsum, wsum)))))
        else:
            r = list(map(_truediv, map(_mul, dq, dq), vbq))
        if detail:
            terms.extend(zip(fnames, map(c.__mul__, r)))
        if white is None:
            t = c * float(sum(map(min, compress(r, dense), repeat(clip / c, k))))
        else:
            t = _whitened_sum(white, dq, wsum, wsq, m, n_stats, clip)
        zmax = c * max(r, default=0.0)
        nterms = k

        # kind shares, as Bernoulli features
        n_f = float(n)
        for i, kind in enumerate(kinds):
            kb = kind_b[i] if i < len(kind_b) else 0
            kw = wkc[wkinds.index(kind)] if kind in wkinds else 0
            if kb or kw:
                t, keff, z = _share_term(t, keff, kb, n_f, kw, m, clip, f"kind:{kind}", terms)
                zmax = z if z > zmax else zmax
                nterms += 1
        for i, kind in enumerate(wkinds):  # kinds the baseline never saw
            if kind not in kinds and wkc[i]:
                t, keff, z = _share_term(t, keff, 0, n_f, wkc[i], m, clip, f"kind:{kind}", terms)
                zmax = z if z > zmax else zmax
                nterms += 1
        if detail:
            return (t, keff, n, terms)
        p_pres = min(1.0, k * _presence_p(bpres, n, wpres, m)) if k else 1.0  # Bonferroni over the features
        return (t, keff, n, zmax, nterms, white is not None, p_pres)

    def _load_correlation(self, corr: Any) -> None:
        """Restore ``to_json``'s correlation sums (optional in the file: without them they re-learn)."""
        names = self._fnames
        d, idx, _ = _dense_slots(names)
        if not isinstance(corr, dict):
            raise ValueError("baseline: 'correlation' must be an object")
        cn, seen = corr.get("samples"), corr.get("seen")
        feats, sums, cross = corr.get("features"), corr.get("sums"), corr.get("cross")
        if not (_is_num(cn) and 0 < cn <= _CORR_HALVE_AT and _is_int(seen) and seen >= 0):
            raise ValueError("baseline: 'correlation' needs 'samples' in (0, 1024] and an integer 'seen' >= 0")
        if feats != [names[j] for j in idx]:
            raise ValueError("baseline: 'correlation' features do not match the baseline's dense features")
        if not (isinstance(sums, list) and len(sums) == d and isinstance(cross, list)
                and len(cross) == d * (d + 1) // 2 and all(map(_is_num, sums)) and all(map(_is_num, cross))):
            raise ValueError(f"baseline: 'correlation' needs {d} 'sums' and {d * (d + 1) // 2} 'cross' numbers")
        self._cnames, self._cn, self._cseen = names, float(cn), seen
        sums, cross = array("f", sums), array("f", cross)
        offs = [i * d - (i * (i - 1)) // 2 for i in range(d)]  # row i of the packed triangle: (i, j) at offs[i] + j - i
        touched = {i for i in range(d) if sums[i]}
        for i in range(d):
            for j in range(i, d):
                if cross[offs[i] + j - i]:
                    touched.update((i, j))
        act = tuple(sorted(touched))
        self._cact = _active_set(d, act)
        self._corr = array("f", [sums[i] for i in act] + [cross[offs[i] + j - i] for k, i in enumerate(act) for j in act[k:]])

    def _whitening(self, vy: Any) -> tuple | None:
        """(Under the lock.) ``_whitened_sum``'s whitening (dense feature indices, 1/sd per dense slot, packed
        L^-1 over the markers met, their active set), or None while the correlation has fewer than CORR_MIN
        samples. Rebuilt when its samples moved by a quarter since (a few ms of pure Python, so log-spaced:
        ~25 rebuilds up to the halving point)."""
        names = self._fnames
        cn = self._cn
        if self._cnames is not names or cn < CORR_MIN:
            return None
        w = self._white
        if w is not None and w[0] is names and abs(cn - w[1]) * 4.0 <= w[1]:
            return w[2]
        _, idx, _ = _dense_slots(names)
        sd = [math.sqrt(vy[j]) if vy[j] > 0.0 else 1.0 for j in idx]
        active = self._cact
        if active[0]:
            rows = _inverse_cholesky_rows(cn, *self._corr_sums(), [sd[i] for i in active[0]])
        else:  # no marker seen: every row is the identity's
            rows = array("f")
        made = None if rows is None else (idx, array("d", [1.0 / x for x in sd]), rows, active)
        self._white = (names, cn, made)
        return made

    def _derived_stats(self, n: int, m: int) -> tuple:
        """compare's per-feature constants for windows of m, cached (call under the baseline's lock).

        (m * Q * baseline mean of y, m (m-1) Q^2 * floored baseline variance of y, number of varying
        features, samples they were computed on); for m = 1 the variance is in Q^2 units only.
        Recomputed from the exact integer sums when m or the feature schema changed, or when the samples
        learned since the last refresh exceed 1/16 of those it was computed on (so during warm-up at
        nearly every learn, later every ~n/16 learns): ``learn`` stays a few C-level passes over the
        sums and ``compare`` reads two ready arrays. Stale by at most ~6% of the samples, which moves
        a mean or a variance by a small fraction of its own standard error.
        """
        d = self._derived
        k = len(self._fnames)
        if d is not None and d[0] == k and d[1] == m and (n - d[2]) * 16 <= d[2]:
            return d[3]
        nf = float(n)
        inv_n = 1.0 / nf
        bpres, bsum, bsq = self._feature_sums()
        vb = list(map(_mul, map(_sub, bsq, map(_mul, map(_mul, bsum, bsum), repeat(inv_n, k))),
                      repeat(_INV_QUANT * _INV_QUANT / (nf - 1.0) if n > 1 else 0.0, k)))
        dense = _dense_mask(self._fnames)
        keff = sum(1 for v, x in zip(vb, dense) if x and v > 1e-9)  # dense features that vary in the baseline
        # present mean (at least log1p(1)) and presence share with a +1 prior -> Bernoulli floor
        pt = [(p + 1.0) / (nf + 2.0) for p in bpres]
        mp = [max(_PRESENT_MIN, s * _INV_QUANT / p) if p else _PRESENT_MIN for s, p in zip(bsum, bpres)]
        vunit = m * (m - 1.0) * _QUANT * _QUANT if m > 1 else _QUANT * _QUANT
        vy = array("d", map(max, vb, [q * (1.0 - q) * a * a for q, a in zip(pt, mp)]))
        vbq = array("f", map(_mul, vy, repeat(vunit, k)))
        mbq = array("f", map(_mul, bsum, repeat(m * inv_n, k)))
        stats = (mbq, vbq, keff, n, dense, vy)
        self._derived = (k, m, n, stats)
        return stats

    # -- persistence --------------------------------------------------------------------------------

    def _to_obj(self) -> dict:
        with self._lock:
            ids = [[format(k, "016x"), c] for k, c in zip(self._keys, self._counts)]
            kinds = {k: c for k, c in zip(self._kinds, self._kind_counts) if c}
            n = self._n
            features = {}
            for name, p, s1, s2 in zip(self._fnames, *self._feature_sums()):
                mean = s1 / (_QUANT * n) if n else 0.0
                m2 = (s2 * n - s1 * s1) / (n * _QUANT * _QUANT) if n else 0.0
                features[name] = [n, int(p), mean, max(m2, 0.0)]
            obj = {
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
            if self._cnames is self._fnames and self._cn > 0:
                d, idx, _ = _dense_slots(self._fnames)
                sums, cross = _placed_sums(*self._corr_sums(), self._cact[0], d)
                obj["correlation"] = {
                    "samples": self._cn,
                    "seen": self._cseen,
                    "features": [self._fnames[j] for j in idx],
                    "sums": sums,
                    "cross": cross,
                }
            return obj

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
        pres, s1s, s2s = array("I"), array("q"), array("q")
        for name, v in feats.items():
            if not (
                isinstance(v, list)
                and len(v) == 4
                and _is_int(v[0])
                and _is_int(v[1])
                and 0 <= v[1] <= v[0] <= n
                and all(_is_num(t) for t in v[2:])
                and v[2] >= 0
                and v[3] >= 0
            ):
                raise ValueError(
                    f"baseline: feature {name!r} must be [count, present, mean, m2] with "
                    f"0 <= present <= count <= samples, mean >= 0 and m2 >= 0, got {v!r:.80}"
                )
            count, mean, m2 = v[0], Fraction(v[2]), Fraction(v[3])
            s1 = round(mean * int(_QUANT) * count)
            s2 = round(m2 * int(_QUANT) ** 2 + (Fraction(s1 * s1, count) if count else 0))
            if count and (s1 > count * _QMAX or s2 > count * _QMAX * _QMAX):
                raise ValueError(f"baseline: feature {name!r} has an impossible mean or m2: {v!r:.80}")
            pres.append(v[1])
            s1s.append(s1)
            s2s.append(s2)

        b._n = n
        b._novel = novel
        b._keys, b._counts = keys, counts
        b._mode = max(counts, default=0)
        b._kinds = KINDS if len(kinds) == len(KINDS) else tuple(kinds)
        b._kind_counts = kind_counts
        if feats:
            b._fnames, b._findex = _schema(tuple(feats))
        met = tuple(j for j, sums in enumerate(zip(pres, s1s, s2s)) if any(sums))
        b._fmet = _features_met(met)
        b._fpres, b._fsum, b._fsq = (array(row.typecode, [row[j] for j in met]) for row in (pres, s1s, s2s))
        corr = obj.get("correlation")
        if corr is not None:
            b._load_correlation(corr)
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


#: A temp file of ours older than this is left by a writer that died mid-save (SIGKILL, power loss).
STALE_TEMP_SECONDS = 600


def _remove_stale_temps(directory: str, base: str) -> None:
    """Delete temp files a killed writer left behind; recent ones may belong to a live writer."""
    prefix = "." + base + "."
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    now = time.time()
    for name in names:
        full = os.path.join(directory, name)
        try:
            if now - os.stat(full).st_mtime > STALE_TEMP_SECONDS:
                os.unlink(full)
        except OSError:
            pass


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
    _remove_stale_temps(directory, os.path.basename(path))
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
