"""CPU instructions per call under valgrind (cachegrind): the comparison that does not move with the machine.

Timed ratios on a shared machine move by +-15% between runs of the same code; instruction counts do not.
Each contender runs in its own process under `valgrind --tool=cachegrind`, twice (LO and HI calls after
the same warm-up), and the difference divided by HI - LO is its cost per call, so start-up and warm-up
cancel out. Same client, mock transport and answers as benchmarks/overhead.py. Needs valgrind (Debian:
`apt-get install valgrind`); about a minute per contender and scenario.

    .venv/bin/python benchmarks/instructions.py [--scenarios json md stream] [--contenders bare llm-drift-otel ...]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = {"json": "chat_json", "md": "chat_md", "stream": "stream"}
LABELS = {"json": "non-streaming chat, ~2 KB JSON answer", "md": "non-streaming chat, ~4 KB markdown answer",
          "stream": "streaming chat, 500 chunks"}
#: (warm-up, LO, HI) calls: baselines hold 60-210 answers in the window measured, like a young variant
CALLS = {"json": (60, 50, 150), "md": (60, 50, 150), "stream": (3, 2, 12)}


def _child(name: str, scenario: str, warmup: int, calls: int) -> None:
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.path.insert(0, str(HERE))
    from overhead import MESSAGES, instrumented_client

    create, current = instrumented_client(name)
    current["scenario"] = SCENARIOS[scenario]

    def one() -> None:
        if scenario == "stream":
            for _chunk in create(model="gpt-4o", messages=MESSAGES, stream=True):
                pass
        else:
            create(model="gpt-4o", messages=MESSAGES)

    for _ in range(warmup + calls):
        one()


def _instructions(name: str, scenario: str, warmup: int, calls: int) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, __file__, "--child", name, scenario, str(warmup), str(calls)],
        capture_output=True, text=True, check=True).stderr
    found = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if not found:
        raise RuntimeError(f"{name} {scenario}: no instruction count in valgrind's output:\n{out[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_call(name: str, scenario: str) -> float:
    warmup, lo, hi = CALLS[scenario]
    return (_instructions(name, scenario, warmup, hi) - _instructions(name, scenario, warmup, lo)) / (hi - lo)


def main() -> None:
    sys.path.insert(0, str(HERE))
    from overhead import available_peers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=["json", "md", "stream"], choices=sorted(SCENARIOS))
    parser.add_argument("--contenders", nargs="+", default=None, help="default: bare, ours, every installed peer")
    parser.add_argument("--jobs", type=int, default=2, help="valgrind processes at once")
    parser.add_argument("--warmup", type=int, default=None,
                        help="calls before the measured ones (default 60, 3 for streams); 1100: mature baselines")
    args = parser.parse_args()
    if args.warmup is not None:
        for scenario, (_, lo, hi) in CALLS.items():
            CALLS[scenario] = (args.warmup, lo, hi)
    if not shutil.which("valgrind"):
        sys.exit("valgrind not found: apt-get install valgrind")
    names = args.contenders or ["bare", "llm-drift-otel"] + available_peers()
    if "bare" not in names:
        names = ["bare"] + names
    for scenario in args.scenarios:
        todo = names if scenario != "stream" else [n for n in names if n in ("bare", "llm-drift-otel")]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            counts = dict(zip(todo, pool.map(lambda n: per_call(n, scenario), todo)))
        bare = counts["bare"]
        print(f"\n{LABELS[scenario]}: instructions per call (cachegrind, calls {CALLS[scenario][1]}-"
              f"{CALLS[scenario][2]} after {CALLS[scenario][0]} warm-up)")
        for name, count in counts.items():
            print(f"  {name:24s} {count / 1e6:9.2f} M  {count / bare:6.3f}x")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
