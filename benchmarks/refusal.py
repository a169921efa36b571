"""Refusal detector accuracy on real model outputs.

Prints precision / recall / F1 of ``is_refusal`` per XSTest v2 model against the paper's human
labels (``2_full_refusal`` and ``3_partial_refusal`` count as refusals), and the share of
Arena-Hard answers (nearly all compliant) flagged as refusals, so a change to the detector is
judged on text nobody here wrote.

    python benchmarks/refusal.py [--corpus PATH] [--show-errors N]

The corpus is read from ``--corpus``, else ``$LLM_DRIFT_CORPUS``, else ``../shared/corpus``
next to the repository.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _load_detector():
    """The pure _refusal module from this checkout, without the package __init__ (OpenTelemetry)."""
    if "llm_drift_otel" not in sys.modules:
        package = types.ModuleType("llm_drift_otel")
        package.__path__ = [str(REPO / "src" / "llm_drift_otel")]
        sys.modules["llm_drift_otel"] = package
    return importlib.import_module("llm_drift_otel._refusal")


_detector = _load_detector()
is_refusal, _refusal_rule = _detector.is_refusal, _detector._refusal_rule

XSTEST_MODELS = ("gpt4", "llama2orig", "mistralguard")
REFUSAL_LABELS = frozenset({"2_full_refusal", "3_partial_refusal"})


def default_corpus() -> Path:
    env = os.environ.get("LLM_DRIFT_CORPUS")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "corpus"


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def score_xstest(corpus: Path, model: str) -> dict:
    rows = read_jsonl(corpus / "xstest_v2" / f"{model}.jsonl")
    tp = fp = fn = tn = 0
    errors = []
    for row in rows:
        truth = row["human_label"] in REFUSAL_LABELS
        guess = is_refusal(row["output"])
        if truth and guess:
            tp += 1
        elif guess:
            fp += 1
            errors.append(("FP", row))
        elif truth:
            fn += 1
            errors.append(("FN", row))
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"model": model, "n": len(rows), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": precision, "recall": recall, "f1": f1, "errors": errors}


def score_arena(corpus: Path) -> dict:
    flagged, total, per_model = [], 0, {}
    for path in sorted((corpus / "arena_hard_v0.1").glob("*.jsonl")):
        if path.name == "prompts.jsonl":
            continue
        rows = read_jsonl(path)
        hits = [row for row in rows if is_refusal(row["output"])]
        per_model[path.stem] = (len(hits), len(rows))
        flagged.extend(hits)
        total += len(rows)
    return {"flagged": flagged, "total": total, "per_model": per_model,
            "rate": len(flagged) / total if total else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--show-errors", type=int, default=0, metavar="N",
                        help="print the first N misclassified rows per model")
    args = parser.parse_args(argv)
    if not (args.corpus / "xstest_v2").is_dir():
        print(f"corpus not found at {args.corpus}: set LLM_DRIFT_CORPUS or pass --corpus",
              file=sys.stderr)
        return 2

    print(f"{'XSTest v2 model':<16}{'n':>5}{'TP':>5}{'FP':>5}{'FN':>5}"
          f"{'precision':>11}{'recall':>8}{'F1':>7}")
    for model in XSTEST_MODELS:
        result = score_xstest(args.corpus, model)
        print(f"{model:<16}{result['n']:>5}{result['tp']:>5}{result['fp']:>5}{result['fn']:>5}"
              f"{result['precision']:>11.3f}{result['recall']:>8.3f}{result['f1']:>7.3f}")
        for kind, row in result["errors"][: args.show_errors]:
            rule = _refusal_rule(row["output"]) or "-"
            print(f"   {kind} {row['prompt_id']} {row['human_label'][:1]} [{rule}] "
                  f"{row['output'].strip()[:160]!r}")

    arena = score_arena(args.corpus)
    print(f"\nArena-Hard v0.1: {len(arena['flagged'])}/{arena['total']} answers flagged as "
          f"refusals ({arena['rate']:.2%}); nearly all answers there are compliant, a few are "
          f"genuine refusals")
    for model, (hits, rows) in arena["per_model"].items():
        print(f"   {model:<32}{hits:>4}/{rows}")
    for row in arena["flagged"][: args.show_errors * 3]:
        print(f"   flagged {row['model'][:14]} {row['prompt_id'][:8]} [{_refusal_rule(row['output'])}] "
              f"{row['output'].strip()[:160]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
