"""Drift detection measured on real answers of production models (issue 5).

For every model A of the Arena-Hard v0.1 corpus: a ``Baseline`` learns A's answers to one half of the
prompts (split by a hash of ``prompt_id``: deterministic, independent of file order); then windows of
W answers to the *other* half are drawn at random (seeded) from A itself (the null: the primary's own
traffic) and from every other model B (the fallback). Per pair (A -> B) it prints

* ``AUC``: probability that a B window scores higher than an A window (``Baseline.compare(...).score``);
* ``det@5%``: share of B windows scoring above the 95th percentile of A's own windows (5% false alarms);
* ``drifted``: share of B windows the product itself flags (``Verdict.drifted``, alpha = 0.01);

per baseline model the false-alarm rate of ``drifted`` on A's own windows, and refusal precision /
recall / F1 of ``is_refusal`` per XSTest v2 model. One run, deterministic.

    python benchmarks/detection.py [--corpus PATH] [--windows 200] [--window 20] [--seed 5]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import random
import statistics
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Vendors of the corpus models (from the corpus README). Used only to group the report's pairs into
#: cross-vendor and same-family ones; the detector never sees a model name.
VENDORS = {
    "gpt-4o-2024-08-06": "OpenAI",
    "gpt-4o-mini-2024-07-18": "OpenAI",
    "claude-3-5-sonnet-20240620": "Anthropic",
    "claude-3-opus-20240229": "Anthropic",
    "gemini-1.5-pro-api-0514": "Google",
    "llama-3.1-70b-instruct": "Meta",
    "mistral-large-2407": "Mistral",
    "command-r-plus": "Cohere",
    "qwen2.5-72b-instruct": "Qwen",
}
SAME_FAMILY = {
    ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06"),
    ("claude-3-5-sonnet-20240620", "claude-3-opus-20240229"),
    ("claude-3-opus-20240229", "claude-3-5-sonnet-20240620"),
}
XSTEST_MODELS = ("gpt4", "llama2orig", "mistralguard")
REFUSAL_LABELS = frozenset({"2_full_refusal", "3_partial_refusal"})


def _pure(name: str):
    """A pure module of this checkout, without the package __init__ (which imports OpenTelemetry)."""
    if "llm_drift_otel" not in sys.modules:
        package = types.ModuleType("llm_drift_otel")
        package.__path__ = [str(REPO / "src" / "llm_drift_otel")]
        sys.modules["llm_drift_otel"] = package
    return importlib.import_module(f"llm_drift_otel.{name}")


def default_corpus() -> Path:
    env = os.environ.get("LLM_DRIFT_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus"


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def half(prompt_id: str) -> int:
    """0 (baseline half) or 1 (window half), from a hash of the prompt id."""
    return hashlib.blake2b(prompt_id.encode("utf-8"), digest_size=1).digest()[0] & 1


def auc(null: list[float], alt: list[float]) -> float:
    """Mann-Whitney AUC, ties counted half."""
    pooled = sorted([(s, 0) for s in null] + [(s, 1) for s in alt])
    rank_sum, i = 0.0, 0
    while i < len(pooled):
        j = i
        while j < len(pooled) and pooled[j][0] == pooled[i][0]:
            j += 1
        mid = (i + j + 1) / 2.0  # 1-based mid-rank of the tie group
        rank_sum += mid * sum(1 for _, g in pooled[i:j] if g)
        i = j
    n1, n0 = len(alt), len(null)
    return (rank_sum - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def detection(corpus: Path, *, windows: int = 200, window: int = 20, seed: int = 5, alpha: float = 0.01) -> dict:
    """Every (baseline model, window model) pair: AUC, detection at 5% false alarm, product's rate."""
    fingerprint = _pure("_fingerprint").fingerprint_output
    baseline_mod = _pure("_baseline")
    arena = corpus / "arena_hard_v0.1"
    models = [m for m in VENDORS if (arena / f"{m}.jsonl").is_file()]
    shapes: dict[str, tuple[list, list]] = {}
    for model in models:
        learn, test = [], []
        for row in sorted(_rows(arena / f"{model}.jsonl"), key=lambda r: r["prompt_id"]):
            (test if half(row["prompt_id"]) else learn).append(fingerprint(row["output"]))
        shapes[model] = (learn, test)

    pairs: dict[tuple[str, str], dict] = {}
    false_alarms: dict[str, float] = {}
    for a in models:
        baseline = baseline_mod.Baseline(alpha=alpha)
        for shape in shapes[a][0]:
            baseline.learn(shape)
        rng = random.Random(f"{seed}:{a}")
        verdicts = {b: [baseline.compare(rng.sample(shapes[b][1], window)) for _ in range(windows)] for b in models}
        null = [v.score for v in verdicts[a]]
        false_alarms[a] = sum(v.drifted for v in verdicts[a]) / windows
        threshold = quantile(null, 0.95)
        for b in models:
            if b == a:
                continue
            alt = [v.score for v in verdicts[b]]
            pairs[(a, b)] = {
                "auc": auc(null, alt),
                "det5": sum(s > threshold for s in alt) / windows,
                "drifted": sum(v.drifted for v in verdicts[b]) / windows,
                "cross_vendor": VENDORS[a] != VENDORS[b],
                "same_family": (a, b) in SAME_FAMILY,
            }
    return {"pairs": pairs, "false_alarms": false_alarms, "models": models,
            "baseline_sizes": {m: len(shapes[m][0]) for m in models}}


def refusal(corpus: Path) -> dict[str, dict]:
    is_refusal = _pure("_refusal").is_refusal
    out = {}
    for model in XSTEST_MODELS:
        path = corpus / "xstest_v2" / f"{model}.jsonl"
        if not path.is_file():
            continue
        tp = fp = fn = 0
        for row in _rows(path):
            truth, guess = row["human_label"] in REFUSAL_LABELS, is_refusal(row["output"])
            tp += truth and guess
            fp += guess and not truth
            fn += truth and not guess
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        out[model] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
    return out


def summary(result: dict) -> dict:
    cross = [v for v in result["pairs"].values() if v["cross_vendor"]]
    family = [v for v in result["pairs"].values() if v["same_family"]]
    return {
        "cross_auc_min": min(v["auc"] for v in cross),
        "cross_auc_median": statistics.median(v["auc"] for v in cross),
        "cross_det5_min": min(v["det5"] for v in cross),
        "cross_det5_median": statistics.median(v["det5"] for v in cross),
        "family_auc_median": statistics.median(v["auc"] for v in family) if family else float("nan"),
        "false_alarm_max": max(result["false_alarms"].values()),
        "false_alarm_mean": statistics.mean(result["false_alarms"].values()),
    }


def _short(model: str) -> str:
    return model.replace("-2024", "").replace("-api-0514", "").replace("-instruct", "")[:22]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--windows", type=int, default=200, help="random windows per pair (default 200)")
    parser.add_argument("--window", type=int, default=20, help="answers per window, W (default 20)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    if not (args.corpus / "arena_hard_v0.1").is_dir():
        print(f"corpus not found at {args.corpus}: set LLM_DRIFT_CORPUS or pass --corpus", file=sys.stderr)
        return 2
    started = time.perf_counter()
    result = detection(args.corpus, windows=args.windows, window=args.window, seed=args.seed)
    print(f"Arena-Hard v0.1, W={args.window}, {args.windows} windows per pair, seed {args.seed}; "
          f"baseline = the first model's answers to one half of the prompts, windows from the other half")
    print(f"{'baseline (primary)':<24}{'window (fallback)':<24}{'pair':<8}{'AUC':>7}{'det@5%':>8}{'drifted':>9}")
    for (a, b), v in result["pairs"].items():
        kind = "cross" if v["cross_vendor"] else "family" if v["same_family"] else "same-v"
        print(f"{_short(a):<24}{_short(b):<24}{kind:<8}{v['auc']:>7.3f}{v['det5']:>8.2f}{v['drifted']:>9.2f}")
    print("\nfalse alarms of `drifted` (alpha=0.01) on the baseline model's own windows:")
    for model, rate in result["false_alarms"].items():
        print(f"   {_short(model):<24}{rate:.3f}   (baseline of {result['baseline_sizes'][model]} answers)")
    s = summary(result)
    print(f"\ncross-vendor pairs: AUC min {s['cross_auc_min']:.3f}, median {s['cross_auc_median']:.3f}; "
          f"detection at 5% false alarm min {s['cross_det5_min']:.2f}, median {s['cross_det5_median']:.2f}")
    print(f"same-family pairs: median AUC {s['family_auc_median']:.3f}")
    print(f"false-alarm rate of drifted: mean {s['false_alarm_mean']:.3f}, max {s['false_alarm_max']:.3f} (alpha 0.01)")
    print(f"\n{'XSTest v2 model':<16}{'precision':>10}{'recall':>8}{'F1':>7}")
    for model, r in refusal(args.corpus).items():
        print(f"{model:<16}{r['precision']:>10.3f}{r['recall']:>8.3f}{r['f1']:>7.3f}")
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
