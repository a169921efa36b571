"""`llm-drift-otel compare`: how differently does a fallback model answer than the primary?

Given recorded answers of the primary and of the fallback (JSONL, optionally with a prompt-variant field),
per variant:

* the shape mix of each side: kinds, top shape ids, style markers (share of answers with headings, bold,
  numbered lists, ...), median length, refusal rate, violations of a declared contract;
* the **drift score**: the share of windows of W fallback answers (W=20, drawn at random with a fixed
  seed so that a file sorted by prompt does not skew them; fewer than W answers are one window) that `Baseline.compare` finds different from a baseline learned from all the primary's
  answers. It is what a live check on windows of W would see, so it measures how *often* a window of
  fallback traffic looks unlike the primary -- not merely whether any difference exists (with hundreds of
  answers almost any two models differ significantly; the whole-file test is shown too);
* as a reference for both, the primary against itself: windows and per-response verdicts of one half of
  its answers against a baseline learned from the other half (cross-fitted, so not in-sample);
* whether the shipped `LLMFallbackStructuralDrift` rule would fire on such traffic: the per-response
  `drifted` share of the fallback >= 50% and >= the primary's (held-out) share + 30 points.

`render_text` makes the terminal table, `render_html` a self-contained HTML report (inline SVG and CSS,
no script, no external asset).
"""

from __future__ import annotations

import html
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from ._baseline import MIN_WINDOW, Baseline, Verdict
from ._fingerprint import Shape

__all__ = ["CompareResult", "SideStats", "VariantResult", "build_sides", "compare_variants",
           "render_html", "render_text", "KIND_COLORS", "STYLE_MARKERS"]

#: Style features shown as "share of answers with ...", with how they read to a person.
STYLE_MARKERS: dict[str, str] = {
    "headings": "headings",
    "bold": "bold text",
    "bullets": "bullet lists",
    "numbered_items": "numbered lists",
    "tables": "tables",
    "code_fences": "code blocks",
    "inline_code": "inline code",
    "italic": "italics",
    "links": "links",
    "blockquotes": "block quotes",
    "exclamations": "exclamation marks",
    "questions": "questions",
    "emoji": "emoji",
    "first_person": "first person (I, me, my)",
    "json": "JSON",
    "tool_calls": "tool calls",
}

KIND_ORDER = ("json", "markdown", "prose", "tool_call", "code", "refusal", "empty")
KIND_COLORS = {  # distinct from the primary (blue) / fallback (orange) colours of the side-by-side charts
    "json": "#7b5ea7",
    "markdown": "#2a9d8f",
    "prose": "#6a994e",
    "tool_call": "#b5838d",
    "code": "#577590",
    "refusal": "#d62828",
    "empty": "#adb5bd",
}
_OTHER_COLOR = "#9c755f"
PRIMARY_COLOR = "#3867a6"
FALLBACK_COLOR = "#d9772b"

#: LLMFallbackStructuralDrift's thresholds (collector/prometheus/llm-drift-rules.yml).
ALERT_MIN_SHARE = 0.5
ALERT_MIN_GAP = 0.3


# --- computation ---------------------------------------------------------------------------------------


@dataclass
class SideStats:
    """One side's answers for one variant."""

    label: str
    shapes: list[Shape] = field(default_factory=list)
    contract_checked: int = 0
    contract_violations: int = 0

    def add(self, shape: Shape, contract_ok: bool | None) -> None:
        self.shapes.append(shape)
        if contract_ok is not None:
            self.contract_checked += 1
            if not contract_ok:
                self.contract_violations += 1

    @property
    def n(self) -> int:
        return len(self.shapes)

    def kinds(self) -> Counter:
        return Counter(s.kind for s in self.shapes)

    def kind_shares(self) -> list[tuple[str, float]]:
        counts = self.kinds()
        order = [k for k in KIND_ORDER if counts.get(k)] + sorted(k for k in counts if k not in KIND_ORDER)
        return [(k, counts[k] / self.n) for k in order] if self.n else []

    def ids(self) -> Counter:
        return Counter(s.id for s in self.shapes)

    def signatures(self) -> dict[str, tuple[str, str]]:
        return {s.id: (s.kind, s.signature) for s in self.shapes}

    def top_shapes(self, k: int) -> list[tuple[str, str, str, float]]:
        """(id, kind, signature, share) of the k most frequent shapes."""
        sig = self.signatures()
        return [(sid, *sig[sid], count / self.n) for sid, count in self.ids().most_common(k)]

    def refusal_share(self) -> float | None:
        return sum(1 for s in self.shapes if s.refusal) / self.n if self.n else None

    def violation_share(self) -> float | None:
        return self.contract_violations / self.contract_checked if self.contract_checked else None

    def marker_share(self, name: str) -> float:
        if not self.n:
            return 0.0
        return sum(1 for s in self.shapes if _num(s.features.get(name)) > 0) / self.n

    def median_chars(self) -> float | None:
        values = [_num(s.features.get("chars")) for s in self.shapes]
        return statistics.median(values) if values else None


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


@dataclass
class Windows:
    total: int = 0
    drifted: int = 0

    @property
    def share(self) -> float | None:
        return self.drifted / self.total if self.total else None

    def __iadd__(self, other: "Windows") -> "Windows":
        self.total += other.total
        self.drifted += other.drifted
        return self


@dataclass
class VariantResult:
    name: str
    primary: SideStats
    fallback: SideStats
    note: str | None = None  # why there is no verdict, when there is none
    whole: Verdict | None = None  # all fallback answers against the primary's baseline
    fallback_windows: Windows | None = None
    primary_windows: Windows | None = None  # held-out halves of the primary
    fallback_drifted: float | None = None  # per-response `drifted` share of the fallback
    primary_drifted: float | None = None  # ... of the primary's held-out halves

    @property
    def drift_score(self) -> float | None:
        return self.fallback_windows.share if self.fallback_windows else None

    @property
    def alert_would_fire(self) -> bool | None:
        if self.fallback_drifted is None:
            return None
        reference = self.primary_drifted or 0.0
        return self.fallback_drifted >= ALERT_MIN_SHARE and self.fallback_drifted - reference >= ALERT_MIN_GAP

    def marker_rows(self) -> list[tuple[str, str, float, float]]:
        """(feature, label, primary share, fallback share), largest difference first; markers neither uses left out."""
        rows = []
        for name, label in STYLE_MARKERS.items():
            p, f = self.primary.marker_share(name), self.fallback.marker_share(name)
            if p or f:
                rows.append((name, label, p, f))
        rows.sort(key=lambda r: (-abs(r[2] - r[3]), r[0]))
        return rows


@dataclass
class CompareResult:
    primary_path: str
    fallback_path: str
    primary_label: str
    fallback_label: str
    primary_rows: int
    fallback_rows: int
    window: int
    variants: list[VariantResult]
    fail_over: float | None = None
    contract: str | None = None  # a description of the declared contract, when one was given
    variant_field: str | None = None

    def failing(self) -> list[VariantResult]:
        if self.fail_over is None:
            return []
        return [v for v in self.variants if v.drift_score is not None and v.drift_score > self.fail_over]


def _chunks(shapes: Sequence[Shape], window: int) -> list[Sequence[Shape]]:
    full = [shapes[i:i + window] for i in range(0, len(shapes) - window + 1, window)]
    if not full and len(shapes) >= MIN_WINDOW:
        return [shapes]
    return full


def _baseline(shapes: Iterable[Shape], n: int) -> Baseline:
    baseline = Baseline(warmup=max(1, min(20, n)), max_shapes=64)
    for shape in shapes:
        baseline.learn(shape)
    return baseline


def _windows(baseline: Baseline, shapes: Sequence[Shape], window: int) -> Windows:
    out = Windows()
    for chunk in _chunks(shapes, window):
        verdict = baseline.compare(chunk)
        if verdict.ready:
            out.total += 1
            out.drifted += int(verdict.drifted)
    return out


def compare_variant(name: str, primary: SideStats, fallback: SideStats, window: int) -> VariantResult:
    result = VariantResult(name, primary, fallback)
    if primary.n < MIN_WINDOW:
        result.note = (f"only {primary.n} primary answer{'s' if primary.n != 1 else ''}: "
                       f"a baseline needs at least {MIN_WINDOW}")
        return result
    if fallback.n < MIN_WINDOW:
        result.note = (f"only {fallback.n} fallback answer{'s' if fallback.n != 1 else ''}: "
                       f"a verdict needs at least {MIN_WINDOW}")
        return result
    baseline = _baseline(primary.shapes, primary.n)
    result.whole = baseline.compare(fallback.shapes)
    # Windows are drawn at random (fixed seed): a file sorted by prompt or topic must not make its
    # windows unlike the live traffic they stand for, where requests of all kinds interleave.
    rng = random.Random(0)
    shuffled = list(fallback.shapes)
    rng.shuffle(shuffled)
    result.fallback_windows = _windows(baseline, shuffled, window)
    result.fallback_drifted = sum(1 for s in fallback.shapes if baseline.judge(s).drifted) / fallback.n

    mixed = list(primary.shapes)
    rng.shuffle(mixed)
    halves = (mixed[0::2], mixed[1::2])
    if min(len(h) for h in halves) >= MIN_WINDOW:
        held_out = Windows()
        drifted = judged = 0
        for learn, test in (halves, halves[::-1]):
            b = _baseline(learn, len(learn))
            held_out += _windows(b, test, window)
            drifted += sum(1 for s in test if b.judge(s).drifted)
            judged += len(test)
        result.primary_windows = held_out
        result.primary_drifted = drifted / judged
    return result


def model_label(models: Counter, path: str) -> str:
    """The model the rows name when they all name one, else the file's name."""
    if len(models) == 1:
        return next(iter(models))
    if path == "-":
        return "stdin"
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    return base[:-6] if base.endswith(".jsonl") else base


def compare_variants(primary: dict[str, SideStats], fallback: dict[str, SideStats], window: int,
                     primary_label: str, fallback_label: str) -> list[VariantResult]:
    out = []
    for name in sorted(set(primary) | set(fallback)):
        p = primary.get(name) or SideStats(primary_label)
        f = fallback.get(name) or SideStats(fallback_label)
        out.append(compare_variant(name, p, f, window))
    return out


def build_sides(rows: Iterable[Any], label: str, default_variant: str,
                fingerprint: Callable[[Any], Shape], contract: Any = None) -> tuple[dict[str, SideStats], Counter, int]:
    """Fingerprint `rows` (from `_cli_io.read_rows`) into per-variant `SideStats`; also the models named, row count."""
    sides: dict[str, SideStats] = {}
    models: Counter = Counter()
    count = 0
    for row in rows:
        count += 1
        if row.model:
            models[row.model] += 1
        shape = fingerprint(row.output)
        ok = None
        if contract is not None:
            ok = bool(contract.check(row.output, shape))
        variant = row.variant or default_variant
        side = sides.get(variant)
        if side is None:
            side = sides[variant] = SideStats(label)
        side.add(shape, ok)
    return sides, models, count


# --- formatting helpers --------------------------------------------------------------------------------


def pct(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{100 * value:.{digits}f}%"


def p_text(verdict: Verdict | None) -> str:
    if verdict is None or not verdict.ready:
        return "—"
    p = max(0.0, 1.0 - verdict.score)
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}" if p < 0.01 else f"p = {p:.2f}"


def windows_text(w: Windows | None, window: int) -> str:
    if w is None or not w.total:
        return "—"
    return f"{pct(w.share, 0)} ({w.drifted}/{w.total})"


def level(score: float | None) -> str:
    if score is None:
        return "none"
    if score >= 0.5:
        return "high"
    if score >= 0.1:
        return "some"
    return "low"


def headline(v: VariantResult, window: int, fallback_label: str, primary_label: str) -> str:
    """One sentence a person reads first."""
    if v.note:
        return f"No verdict: {v.note}."
    w = v.fallback_windows
    if w is None or not w.total:
        return "No verdict: too few answers for one window."
    size = window if v.fallback.n >= window else v.fallback.n
    text = (f"{w.drifted} of {w.total} window{'s' if w.total != 1 else ''} of {size} {fallback_label} answers "
            f"differ from {primary_label}'s baseline")
    ref = v.primary_windows
    if ref is not None and ref.total:
        text += f" ({primary_label} against itself: {ref.drifted} of {ref.total})"
    return text + "."


def biggest_differences(v: VariantResult, k: int = 3) -> str:
    parts = []
    for _, label, p, f in v.marker_rows()[:k]:
        if abs(p - f) >= 0.05:
            parts.append(f"{label} {pct(p, 0)} → {pct(f, 0)}")
    pk, fk = dict(v.primary.kind_shares()), dict(v.fallback.kind_shares())
    for kind in sorted(set(pk) | set(fk), key=lambda k: -abs(pk.get(k, 0) - fk.get(k, 0))):
        diff = abs(pk.get(kind, 0) - fk.get(kind, 0))
        if diff >= 0.2 and len(parts) < k + 1:
            parts.insert(0, f"{kind} answers {pct(pk.get(kind, 0), 0)} → {pct(fk.get(kind, 0), 0)}")
            break
    return "; ".join(parts)


def _trunc(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _fmt_chars(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


# --- terminal -----------------------------------------------------------------------------------------


def render_text(result: CompareResult, *, color: bool = False, width: int = 100) -> str:
    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    a, b = result.primary_label, result.fallback_label
    label_w = 30
    col = max(16, min(30, max(len(a), len(b)) + 3))
    lines = [
        paint("llm-drift-otel compare", "1"),
        f"  primary   {a}  ({result.primary_rows} answers, {result.primary_path})",
        f"  fallback  {b}  ({result.fallback_rows} answers, {result.fallback_path})",
    ]
    if result.contract:
        lines.append(f"  contract  {result.contract}")

    def row(label: str, left: str, right: str, extra: str = "") -> str:
        return f"  {label:<{label_w}}{left:>{col}}{right:>{col}}" + (f"  {extra}" if extra else "")

    for v in result.variants:
        lines.append("")
        title = f"variant {v.name!r}" if result.variant_field or len(result.variants) > 1 else f"variant {v.name!r} (all rows)"
        lines.append(paint(title, "1") + f"  — {v.primary.n} primary, {v.fallback.n} fallback answers")
        lines.append(row("", _trunc(a, col - 2), _trunc(b, col - 2)))
        kinds = [k for k, _ in v.primary.kind_shares()]
        kinds += [k for k, _ in v.fallback.kind_shares() if k not in kinds]
        pk, fk = dict(v.primary.kind_shares()), dict(v.fallback.kind_shares())
        for i, kind in enumerate(kinds):
            lines.append(row(("kind  " if i == 0 else "      ") + kind, pct(pk.get(kind, 0.0)), pct(fk.get(kind, 0.0))))
        lines.append(row("distinct shapes", str(len(v.primary.ids())), str(len(v.fallback.ids()))))
        lines.append(row("median length (chars)", _fmt_chars(v.primary.median_chars()),
                         _fmt_chars(v.fallback.median_chars())))
        markers = v.marker_rows()[:6]
        if markers:
            lines.append("  answers with …")
            for _, label, p, f in markers:
                diff = f - p
                note = f"{'+' if diff >= 0 else '−'}{abs(100 * diff):.0f} pts" if abs(diff) >= 0.005 else ""
                lines.append(row("  " + label, pct(p), pct(f), note))
        lines.append(row("refusals", pct(v.primary.refusal_share()), pct(v.fallback.refusal_share())))
        if result.contract:
            lines.append(row("contract violations", pct(v.primary.violation_share()), pct(v.fallback.violation_share())))
        ref_mark = "*" if v.primary_drifted is not None else ""
        lines.append(row("answers drifted, one by one", pct(v.primary_drifted) + ref_mark, pct(v.fallback_drifted)))
        lines.append(row(f"windows of {result.window} that drift", windows_text(v.primary_windows, result.window)
                         + ref_mark, windows_text(v.fallback_windows, result.window)))
        top_p, top_f = v.primary.top_shapes(3), v.fallback.top_shapes(3)
        if top_p or top_f:
            lines.append("  top shapes")
            sig_w = max(16, (width - 12) // 2 - 8)
            for i in range(max(len(top_p), len(top_f))):
                left = f"{pct(top_p[i][3]):>6} {_trunc(top_p[i][2], sig_w)}" if i < len(top_p) else ""
                right = f"{pct(top_f[i][3]):>6} {_trunc(top_f[i][2], sig_w)}" if i < len(top_f) else ""
                lines.append(f"    {left:<{sig_w + 8}}  {right}")
        if ref_mark:
            lines.append(f"  * {a}: one half of its answers against a baseline of the other half")

        score = v.drift_score
        if score is None:
            verdict = paint("NO VERDICT", "33;1") + f"  {v.note or 'too few answers'}"
        else:
            tag = {"high": ("DRIFT", "31;1"), "some": ("SOME DRIFT", "33;1"), "low": ("SAME SHAPE", "32;1")}[level(score)]
            verdict = paint(tag[0], tag[1]) + f"  drift score {score:.2f}"
            if result.fail_over is not None:
                verdict += "  " + (paint(f"FAIL: above --fail-over {result.fail_over:g}", "31;1")
                                   if score > result.fail_over else paint(f"pass: --fail-over {result.fail_over:g}", "32"))
        lines.append("  verdict  " + verdict)
        if score is not None:
            lines.append("           " + headline(v, result.window, "fallback", "the primary"))
        if v.whole is not None and v.whole.ready:
            lines.append(f"           all {v.fallback.n} answers together: "
                         + ("a different distribution" if v.whole.drifted else "no detectable difference")
                         + f" ({p_text(v.whole)})")
        diffs = biggest_differences(v)
        if diffs and score is not None:
            lines.append(f"           biggest differences: {diffs}")
        fire = v.alert_would_fire
        if fire is not None:
            ref = v.primary_drifted or 0.0
            lines.append(f"  alert    LLMFallbackStructuralDrift would {'' if fire else 'not '}fire on such traffic:")
            lines.append(f"           {pct(v.fallback_drifted, 0)} of fallback answers judged drifted one by one, vs "
                         f"{pct(ref, 0)} of the primary's" + ("" if fire else
                         f" (the rule needs ≥ {pct(ALERT_MIN_SHARE, 0)} and {100 * ALERT_MIN_GAP:.0f} points more)"))
    lines.append("")
    lines.append(f"drift score = share of random windows of {result.window} fallback answers that Baseline.compare "
                 "finds different from the primary's baseline (alpha 0.01).")
    return "\n".join(lines)


# --- HTML ---------------------------------------------------------------------------------------------

_CSS = """
:root { --fg:#1f2430; --muted:#5f6673; --line:#e3e6eb; --bg:#f6f7f9; --card:#fff;
        --primary:%(primary)s; --fallback:%(fallback)s; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
       font:15px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"DejaVu Sans",Helvetica,Arial,sans-serif; }
main { max-width:1080px; margin:0 auto; padding:28px 24px 48px; }
h1 { font-size:24px; margin:0 0 4px; }
h2 { font-size:19px; margin:0; }
h3 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); margin:22px 0 10px; }
.sub { color:var(--muted); margin:0 0 18px; }
.files { display:grid; grid-template-columns:max-content 1fr; gap:4px 14px; margin:14px 0 8px; }
.files .who { font-weight:600; }
.dot { display:inline-block; width:11px; height:11px; border-radius:3px; vertical-align:-1px; margin-right:6px; }
.path { color:var(--muted); font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace; font-size:12.5px; }
.variant { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:20px 22px 22px;
           margin:22px 0; box-shadow:0 1px 2px rgba(0,0,0,.04); }
.vhead { display:flex; align-items:center; gap:12px; flex-wrap:wrap; }
.badge { border-radius:999px; padding:3px 11px; font-weight:600; font-size:13px; color:#fff; }
.badge.high { background:#c73a3a; } .badge.some { background:#c98a12; } .badge.low { background:#2f8a4b; }
.badge.none { background:#8a8f98; }
.gate { font-size:13px; font-weight:600; padding:3px 10px; border-radius:6px; border:1.5px solid; }
.gate.fail { color:#c73a3a; border-color:#c73a3a; } .gate.pass { color:#2f8a4b; border-color:#2f8a4b; }
.lead { font-size:16px; margin:12px 0 2px; }
.lead2 { color:var(--muted); margin:2px 0 0; }
.grid { display:grid; grid-template-columns:1fr 1fr; gap:0 30px; }
@media (max-width: 820px) { .grid { grid-template-columns:1fr; } }
svg text { font-family:inherit; }
.mixrow { margin:0 0 10px; }
.mixrow .name { font-weight:600; font-size:13.5px; margin-bottom:3px; }
.legend { display:flex; flex-wrap:wrap; gap:4px 14px; font-size:12.5px; color:var(--muted); margin-top:4px; }
table { border-collapse:collapse; width:100%; font-size:14px; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:12px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.alert td { background:#fdf1f1; }
table.metrics th.num { text-transform:none; letter-spacing:0; font-size:13px; color:var(--fg); white-space:normal;
                       overflow-wrap:anywhere; }
table.metrics td:first-child { width:44%; }
.markers .row { display:grid; grid-template-columns:170px 1fr 52px; align-items:center; gap:4px 10px; margin:0 0 7px; }
.markers .label { font-size:13.5px; }
.bars { display:flex; flex-direction:column; gap:2px; }
.bar { height:9px; border-radius:0 3px 3px 0; min-width:1px; }
.bar.p { background:var(--primary); } .bar.f { background:var(--fallback); }
.vals { font-size:12px; color:var(--muted); text-align:right; line-height:11px; font-variant-numeric:tabular-nums; }
.sig { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace; font-size:12px; word-break:break-all; }
.kind { display:inline-block; font-size:11px; padding:1px 6px; border-radius:4px; color:#fff; margin-right:6px; }
.share { position:relative; min-width:86px; }
.share span { position:relative; z-index:1; }
.share i { position:absolute; left:0; top:50%; height:18px; margin-top:-9px; border-radius:2px; opacity:.22; }
.note { color:var(--muted); font-size:13px; }
footer { color:var(--muted); font-size:13px; margin-top:28px; line-height:1.55; }
code { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace; font-size:12.5px;
       background:#eef0f3; padding:1px 4px; border-radius:3px; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _mix_svg(side: SideStats, color_of: Callable[[str], str], width: int = 470, height: int = 26) -> str:
    """One stacked horizontal bar: the side's answers by kind."""
    parts = [f'<svg class="mix" role="img" width="100%" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
             f'height="{height}" data-model="{_e(side.label)}" aria-label="{_e(side.label)} answers by kind">']
    x = 0.0
    shares = side.kind_shares()
    if not shares:
        parts.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#eceef1"/>')
    for kind, share in shares:
        w = share * width
        parts.append(f'<rect x="{x:.2f}" y="0" width="{max(w, 0.5):.2f}" height="{height}" fill="{color_of(kind)}">'
                     f'<title>{_e(kind)}: {pct(share)}</title></rect>')
        if w >= 62:
            parts.append(f'<text x="{x + 7:.2f}" y="{height / 2 + 4.5:.1f}" font-size="12.5" fill="#fff" '
                         f'font-weight="600">{_e(kind)} {pct(share, 0)}</text>')
        x += w
    parts.append("</svg>")
    return "".join(parts)


def _kind_color(kind: str) -> str:
    return KIND_COLORS.get(kind, _OTHER_COLOR)


def _markers_html(v: VariantResult) -> str:
    rows = v.marker_rows()
    if not rows:
        return '<p class="note">Neither side uses any style marker (headings, bold, lists, …).</p>'
    out = ['<div class="markers">']
    for _, label, p, f in rows:
        out.append(
            f'<div class="row"><div class="label">{_e(label)}</div>'
            f'<div class="bars"><div class="bar p" style="width:{100 * p:.1f}%" title="primary {pct(p)}"></div>'
            f'<div class="bar f" style="width:{100 * f:.1f}%" title="fallback {pct(f)}"></div></div>'
            f'<div class="vals">{pct(p, 0)}<br>{pct(f, 0)}</div></div>')
    out.append("</div>")
    return "".join(out)


def _shapes_table(side: SideStats, other: SideStats, color: str, k: int = 8) -> str:
    other_ids = other.ids()
    out = [f'<table class="shapes" data-model="{_e(side.label)}"><thead><tr><th class="num">share</th>'
           f'<th>shape</th><th class="num">other side</th></tr></thead><tbody>']
    top = side.top_shapes(k)
    biggest = max((t[3] for t in top), default=1.0) or 1.0
    for sid, kind, signature, share in top:
        theirs = other_ids.get(sid, 0) / other.n if other.n else 0.0
        out.append(
            f'<tr><td class="num share"><i style="width:{100 * share / biggest:.0f}%;background:{color}"></i>'
            f'<span>{pct(share)}</span></td>'
            f'<td><span class="kind" style="background:{_kind_color(kind)}">{_e(kind)}</span>'
            f'<span class="sig" title="shape id {_e(sid)}">{_e(signature)}</span></td>'
            f'<td class="num">{pct(theirs) if theirs else "never"}</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _metrics_table(v: VariantResult, result: CompareResult) -> str:
    a, b = result.primary_label, result.fallback_label
    star = "*" if v.primary_drifted is not None else ""
    rows: list[tuple[str, str, str, bool]] = [
        ("answers", str(v.primary.n), str(v.fallback.n), False),
        ("distinct shapes", str(len(v.primary.ids())), str(len(v.fallback.ids())), False),
        ("median length (characters)", _fmt_chars(v.primary.median_chars()), _fmt_chars(v.fallback.median_chars()), False),
        ("refusals", pct(v.primary.refusal_share()), pct(v.fallback.refusal_share()), False),
    ]
    if result.contract:
        bad = (v.fallback.violation_share() or 0) > (v.primary.violation_share() or 0) + 0.05
        rows.append(("contract violations", pct(v.primary.violation_share()), pct(v.fallback.violation_share()), bad))
    rows.append(("answers judged drifted (one by one)", pct(v.primary_drifted) + star, pct(v.fallback_drifted),
                 bool(v.alert_would_fire)))
    rows.append((f"windows of {result.window} answers that drift", windows_text(v.primary_windows, result.window) + star,
                 windows_text(v.fallback_windows, result.window), level(v.drift_score) == "high"))
    out = [f'<table class="metrics" data-variant="{_e(v.name)}"><thead><tr><th></th>'
           f'<th class="num"><span class="dot" style="background:var(--primary)"></span>{_e(a)}</th>'
           f'<th class="num"><span class="dot" style="background:var(--fallback)"></span>{_e(b)}</th></tr></thead><tbody>']
    for label, left, right, alert in rows:
        out.append(f'<tr{" class=alert" if alert else ""}><td>{_e(label)}</td><td class="num">{_e(left)}</td>'
                   f'<td class="num">{_e(right)}</td></tr>')
    out.append("</tbody></table>")
    if star:
        out.append(f'<p class="note">* {_e(a)} against itself: each half of its answers judged against a baseline '
                   f'learned from the other half — how much a model varies from its own baseline.</p>')
    return "".join(out)


def _variant_html(v: VariantResult, result: CompareResult) -> str:
    a, b = result.primary_label, result.fallback_label
    score = v.drift_score
    lvl = level(score)
    badge = "no verdict" if score is None else f"drift score {score:.2f}"
    gate = ""
    if result.fail_over is not None and score is not None:
        failed = score > result.fail_over
        gate = (f'<span class="gate {"fail" if failed else "pass"}">'
                f'{"FAIL" if failed else "PASS"} --fail-over {result.fail_over:g}</span>')
    lead = headline(v, result.window, b, a)
    detail = []
    if v.whole is not None and v.whole.ready:
        detail.append(f"All {v.fallback.n} answers together: "
                      + ("a different distribution" if v.whole.drifted else "no detectable difference")
                      + f" ({p_text(v.whole)}).")
    diffs = biggest_differences(v)
    if diffs and score is not None:
        detail.append(f"Biggest differences: {diffs}.")
    fire = v.alert_would_fire
    if fire is not None:
        detail.append(("<b>LLMFallbackStructuralDrift would fire</b>" if fire else "LLMFallbackStructuralDrift would not fire")
                      + f" on such traffic: {pct(v.fallback_drifted, 0)} of fallback answers judged drifted one by one, "
                      f"vs {pct(v.primary_drifted or 0.0, 0)} of the primary's (the rule needs ≥ 50% and 30 points more).")
    mix = "".join(
        f'<div class="mixrow"><div class="name"><span class="dot" style="background:{dot}"></span>{_e(side.label)} '
        f'<span class="note">({side.n} answers)</span></div>{_mix_svg(side, _kind_color)}</div>'
        for side, dot in ((v.primary, "var(--primary)"), (v.fallback, "var(--fallback)")))
    kinds = sorted({k for k, _ in v.primary.kind_shares()} | {k for k, _ in v.fallback.kind_shares()},
                   key=lambda k: KIND_ORDER.index(k) if k in KIND_ORDER else 99)
    legend = "".join(f'<span><span class="dot" style="background:{_kind_color(k)}"></span>{_e(k)}</span>' for k in kinds)
    return f"""
<section class="variant" id="variant-{_e(v.name)}">
  <div class="vhead"><h2>Prompt variant <code>{_e(v.name)}</code></h2>
    <span class="badge {lvl}">{_e(badge)}</span>{gate}</div>
  <p class="lead">{_e(lead)}</p>
  {''.join(f'<p class="lead2">{d}</p>' for d in detail)}
  <div class="grid">
    <div>
      <h3>Answers by kind</h3>
      {mix}
      <div class="legend">{legend}</div>
      <h3>Numbers</h3>
      {_metrics_table(v, result)}
    </div>
    <div>
      <h3>Share of answers with …</h3>
      <div class="legend" style="margin:-4px 0 10px"><span><span class="dot" style="background:var(--primary)"></span>{_e(a)}</span>
        <span><span class="dot" style="background:var(--fallback)"></span>{_e(b)}</span></div>
      {_markers_html(v)}
    </div>
  </div>
  <div class="grid">
    <div><h3>Most frequent shapes — {_e(a)}</h3>{_shapes_table(v.primary, v.fallback, PRIMARY_COLOR)}</div>
    <div><h3>Most frequent shapes — {_e(b)}</h3>{_shapes_table(v.fallback, v.primary, FALLBACK_COLOR)}</div>
  </div>
</section>"""


def render_html(result: CompareResult, *, version: str = "") -> str:
    a, b = result.primary_label, result.fallback_label
    sections = "".join(_variant_html(v, result) for v in result.variants)
    contract = f'<div class="who">contract</div><div>{_e(result.contract)}</div>' if result.contract else ""
    generated = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    css = _CSS.replace("%(primary)s", PRIMARY_COLOR).replace("%(fallback)s", FALLBACK_COLOR)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(b)} vs {_e(a)} — llm-drift-otel compare</title>
<style>{css}</style>
</head>
<body>
<main>
  <h1>How differently does the fallback answer?</h1>
  <p class="sub">Output structure of recorded answers, compared per prompt variant. No text of the answers is shown:
  only their shapes (kinds, layouts, style markers).</p>
  <div class="files">
    <div class="who"><span class="dot" style="background:var(--primary)"></span>primary</div>
    <div>{_e(a)} — {result.primary_rows} answers <span class="path">{_e(result.primary_path)}</span></div>
    <div class="who"><span class="dot" style="background:var(--fallback)"></span>fallback</div>
    <div>{_e(b)} — {result.fallback_rows} answers <span class="path">{_e(result.fallback_path)}</span></div>
    {contract}
  </div>
  {sections}
  <footer>
    <b>Drift score</b>: the share of windows of {result.window} fallback answers (drawn at random) that
    <code>Baseline.compare</code> finds different from a baseline learned from all the primary's answers
    (exact tests on kinds, shape novelty and style features, Bonferroni-combined, alpha 0.01). It says how often a
    live check on windows of {result.window} answers would see the fallback as different, so it measures how much the
    two differ rather than whether any difference exists. <b>Shape</b>: the content-free structural signature of an
    answer (what <code>llm_drift.shape.signature</code> carries); answers with the same layout share one.
    Generated {generated} by llm-drift-otel {_e(version)}.
  </footer>
</main>
</body>
</html>
"""
