"""Per-call overhead of llm-drift-otel against the bare SDK call and peer instrumentations, in one run.

The real `openai` SDK talks to an in-process `httpx2.MockTransport` returning fixed, real response
bodies (a ~2 KB JSON answer, a ~4 KB markdown answer, a 500-chunk stream). Every contender (bare,
llm-drift-otel, each installed peer) lives in its own worker process, instrumented once, so no
instrumentation's leftovers touch another's numbers (some peers leave wrappers behind on
`uninstrument`). The parent interleaves rounds across workers (bare, ours, peers, bare, ...), so
machine noise hits all alike, and compares medians of per-round means:

    .venv/bin/python benchmarks/overhead.py [--rounds 15 --calls 200 --rss-calls 100000]

Then, in the same run: fingerprint alone vs json.loads from 1 KB to 1 MB (linear, flat past the scan
cap), memory of baselines for 1,000 variants, the cost of `import llm_drift_otel`, and RSS over
100,000 calls with random prompt variants (bounded).

Everything on: tracing to a BatchSpanProcessor, metrics to a reader, fingerprint, baseline, verdicts.

Each contender's per-call time is given as wall clock and as the CPU time of its whole worker process
(every thread, so work handed to the span export thread is counted too).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

PEERS = {
    "otel-genai-openai-v2": ("opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor"),
    "openinference": ("openinference.instrumentation.openai", "OpenAIInstrumentor"),
    "openllmetry": ("opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
}
MESSAGES = [{"role": "system", "content": "Answer as a JSON card."}, {"role": "user", "content": "Where is my order?"}]


def json_answer() -> str:
    card = {"title": "Order status", "summary": "Your order ships tomorrow. " * 8,
            "actions": [f"step {i}: check the tracking page and confirm the address" for i in range(12)],
            "details": {"carrier": "ACME", "eta_days": 2, "items": [{"sku": f"SKU-{i}", "qty": i} for i in range(15)]},
            "confidence": 0.93}
    text = json.dumps(card)
    while len(text) < 2000:
        card["actions"].append("one more step to take")
        text = json.dumps(card)
    return text


def markdown_answer() -> str:
    section = ("## Shipping\n\nYour order **ships tomorrow** from our warehouse.\n\n"
               "- Track it on the order page\n- Confirm your address\n- Contact us if it is late\n\n"
               "| item | qty |\n|---|---|\n| shirt | 2 |\n| mug | 1 |\n\n")
    return (section * 25)[:4096]


# ---------------------------------------------------------------- worker side

def instrumented_client(name: str) -> tuple:
    """(chat.completions.create, scenario holder) of a real `openai` client on the mock transport,
    instrumented by contender `name` (bare, llm-drift-otel or a peer) with spans and metrics on."""
    import httpx2
    import openai
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from llm_drift_otel._mock_provider import chat_body, chat_stream_body

    class DropSpans(SpanExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    if name == "llm-drift-otel":
        import llm_drift_otel as ld

        ld.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    elif name != "bare":
        module, cls = PEERS[name]
        instrumentor = getattr(__import__(module, fromlist=[cls]), cls)()
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    bodies = {
        "chat_json": (json.dumps(chat_body("gpt-4o-2024-08-06", json_answer())).encode(), "application/json"),
        "chat_md": (json.dumps(chat_body("gpt-4o-2024-08-06", markdown_answer())).encode(), "application/json"),
        "stream": (chat_stream_body("gpt-4o-2024-08-06", markdown_answer()[:4000], pieces=500), "text/event-stream"),
    }
    current = {"scenario": "chat_json"}

    def handler(request: httpx2.Request) -> httpx2.Response:
        body, content_type = bodies[current["scenario"]]
        return httpx2.Response(200, headers={"content-type": content_type}, content=body)

    client = openai.OpenAI(api_key="sk-bench", base_url="http://127.0.0.1:9/v1", max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    return client.chat.completions.create, current


def _worker(name: str) -> None:
    create, current = instrumented_client(name)

    def run(scenario: str, calls: int) -> str:
        """Wall clock and CPU time of this process (every thread: the span export thread too) per call."""
        current["scenario"] = scenario
        start, cpu = time.perf_counter(), time.process_time()
        if scenario == "stream":
            for _ in range(calls):
                for _chunk in create(model="gpt-4o", messages=MESSAGES, stream=True):
                    pass
        else:
            for _ in range(calls):
                create(model="gpt-4o", messages=MESSAGES)
        return f"{(time.perf_counter() - start) / calls} {(time.process_time() - cpu) / calls}"

    def rss_growth(calls: int) -> str:
        """RSS over `calls` calls with random prompt variants (system prompts), after a warm-up."""
        import random
        import resource

        current["scenario"] = "chat_json"
        rng = random.Random(7)

        def one() -> None:
            system = f"You answer as support agent #{rng.randrange(100_000)}."  # a new variant each time
            create(model="gpt-4o", messages=[{"role": "system", "content": system}, MESSAGES[1]])

        def rss_kb() -> int:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        warm = max(1000, calls // 10)
        for _ in range(warm):
            one()
        after_warmup = rss_kb()
        marks = []
        for i in range(calls):
            one()
            if (i + 1) % max(1, calls // 5) == 0:
                marks.append(rss_kb())
        return json.dumps({"warmup_kb": after_warmup, "marks_kb": marks})

    print("ready", flush=True)
    for line in sys.stdin:
        scenario, calls = line.split()
        if scenario == "rss":
            print(rss_growth(int(calls)), flush=True)
        else:
            print(run(scenario, int(calls)), flush=True)


# ---------------------------------------------------------------- parent side

class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()  # type: ignore[union-attr]
        if line != "ready":
            raise RuntimeError(f"{name}: worker did not start ({line!r})")

    def ask(self, scenario: str, calls: int) -> str:
        self.proc.stdin.write(f"{scenario} {calls}\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self.proc.stdout.readline()  # type: ignore[union-attr]

    def run(self, scenario: str, calls: int) -> tuple[float, float]:
        wall, cpu = self.ask(scenario, calls).split()
        return float(wall), float(cpu)

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=30)


def available_peers() -> list[str]:
    import importlib

    names = []
    for name, (module, cls) in PEERS.items():
        try:
            getattr(importlib.import_module(module), cls)
            names.append(name)
        except Exception as exc:
            print(f"  ({name} not importable: {type(exc).__name__}; skipped)")
    return names


def compare(workers: list[Worker], scenario: str, rounds: int, calls: int, label: str) -> dict[str, float]:
    """Medians of per-round means, wall clock and process CPU time, each against the bare SDK's.

    Both are shown: wall clock is what an app waits; CPU time (all threads of the worker process) is what
    the instrumentation costs, and it does not count the time a worker waited for a core that another
    process on the machine held, so it is the steadier of the two on a busy machine.
    """
    for w in workers:  # warm every path
        w.run(scenario, max(5, calls // 10))
    samples: dict[str, list[tuple[float, float]]] = {w.name: [] for w in workers}
    for r in range(rounds):
        order = workers if r % 2 == 0 else list(reversed(workers))
        for w in order:
            samples[w.name].append(w.run(scenario, calls))
    walls = {name: statistics.median(s[0] for s in v) for name, v in samples.items()}
    cpus = {name: statistics.median(s[1] for s in v) for name, v in samples.items()}
    bare_wall, bare_cpu = walls["bare"], cpus["bare"]
    print(f"\n{label}: {rounds} interleaved rounds x {calls} calls, median per call")
    print(f"  {'':<22} {'wall clock':>22}   {'process CPU time':>22}")
    for name in walls:
        wall, cpu = walls[name], cpus[name]
        extra = ""
        if scenario == "stream":
            extra = f"   {(cpu - bare_cpu) / 500 * 1e9:7.0f} ns CPU added per chunk"
        print(f"  {name:<22} {wall * 1e6:9.1f} us {wall / bare_wall:6.3f}x   {cpu * 1e6:9.1f} us {cpu / bare_cpu:6.3f}x{extra}")
    return cpus


def fingerprint_scaling(rounds: int) -> None:
    """Fingerprint alone vs json.loads of the same text: linear growth, flat past the scan cap."""
    from llm_drift_otel._fingerprint import DEFAULT_MAX_SCAN_BYTES, fingerprint_output

    def json_of(size: int) -> str:
        rows, text = [], "[]"
        while len(text) < size:
            rows.append({"id": len(rows), "name": "item", "tags": ["a", "b"], "price": 1.5, "ok": True})
            text = json.dumps({"items": rows, "total": len(rows)})
        return text

    print(f"\nfingerprint vs json.loads (scan cap {DEFAULT_MAX_SCAN_BYTES} bytes), median of {rounds} interleaved runs")
    for size in (1_000, 2_000, 10_000, 100_000, 1_000_000):
        text = json_of(size)
        n = max(3, 200_000 // size)
        fp, jl = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            for _ in range(n):
                fingerprint_output(text)
            fp.append((time.perf_counter() - t) / n)
            t = time.perf_counter()
            for _ in range(n):
                json.loads(text)
            jl.append((time.perf_counter() - t) / n)
        f, j = statistics.median(fp), statistics.median(jl)
        print(f"  {len(text):>9} bytes  fingerprint {f * 1e6:10.1f} us   json.loads {j * 1e6:10.1f} us   {f / j:5.2f}x")


def baseline_memory() -> None:
    """Memory of baselines for 1,000 variants, each taught 60 realistic answers of several shapes."""
    import gc
    import random
    import tracemalloc

    from llm_drift_otel._baseline import BaselineRegistry, Window
    from llm_drift_otel._fingerprint import fingerprint_output
    from llm_drift_otel._mock_provider import STYLES

    rng = random.Random(3)
    shapes = [fingerprint_output(STYLES[style](rng)) for style in STYLES for _ in range(40)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    registry = BaselineRegistry(max_variants=1000)
    for v in range(1000):
        baseline = registry.get(f"variant-{v}")
        for _ in range(60):
            baseline.learn(rng.choice(shapes))
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    # a variant with traffic is also window-tested: what compare keeps between windows counts too
    window = Window(20)
    for _ in range(20):
        window.push(rng.choice(shapes))
    for v in range(1000):
        registry.get(f"variant-{v}").compare(window)
    gc.collect()
    compared = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"\nbaselines for 1,000 variants (60 answers each): {used / 1e6:.2f} MB ({used / 1000:.0f} bytes per variant); "
          f"after one window test each: {compared / 1e6:.2f} MB ({compared / 1000:.0f} bytes per variant)")


def import_cost(repeats: int = 7) -> None:
    """What `import llm_drift_otel` adds to a fresh interpreter, and whether it pulls an LLM SDK."""
    code = ("import sys, time; t = time.perf_counter(); import llm_drift_otel; d = time.perf_counter() - t; "
            "sdks = [m for m in ('openai', 'anthropic', 'google.genai', 'botocore', 'mistralai', 'cohere', 'litellm') "
            "if m in sys.modules]; print(d, len(sdks))")
    src = str(Path(__file__).resolve().parents[1] / "src")
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}).stdout.split()
        runs.append((float(out[0]), int(out[1])))
    print(f"\nimport llm_drift_otel: median {statistics.median(r[0] for r in runs) * 1e3:.1f} ms over {repeats} "
          f"fresh interpreters; LLM SDKs imported: {max(r[1] for r in runs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rss-calls", type=int, default=100_000, help="0 to skip the RSS run")
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    names = ["bare", "llm-drift-otel"] + ([] if args.no_peers else available_peers())
    workers = [Worker(n) for n in names]
    try:
        compare(workers, "chat_json", args.rounds, args.calls, "non-streaming chat, ~2 KB JSON answer")
        compare(workers, "chat_md", args.rounds, args.calls, "non-streaming chat, ~4 KB markdown answer")
        compare([w for w in workers if w.name in ("bare", "llm-drift-otel")], "stream", args.rounds,
                max(1, args.calls // 10), "streaming chat, 500 chunks")
    finally:
        for w in workers:
            w.close()
    fingerprint_scaling(max(5, args.rounds // 2))
    baseline_memory()
    import_cost()
    if args.rss_calls:
        ours = Worker("llm-drift-otel")
        try:
            report = json.loads(ours.ask("rss", args.rss_calls))
        finally:
            ours.close()
        warm, marks = report["warmup_kb"], report["marks_kb"]
        print(f"\nRSS over {args.rss_calls} calls with random variants (after warm-up {warm / 1024:.1f} MB): "
              + ", ".join(f"{m / 1024:.1f}" for m in marks) + f" MB; growth {100 * (marks[-1] - warm) / warm:+.1f}%")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        _worker(sys.argv[2])
    else:
        main()
