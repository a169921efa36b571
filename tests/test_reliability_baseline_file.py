"""Baseline files (LLM_DRIFT_BASELINE_FILE, written by `llm-drift-otel baseline build`).

Loading: a corrupted, truncated, foreign, future-version, unreadable or missing file gives one clear log
line (naming the variable, the file and the problem), a fresh empty registry, and an app that runs;
a loader that raises anything else is a logged stage failure, never the app's problem.
Saving: an unwritable path is an OSError for the caller (the CLI turns it into a one-line error, exit 2),
the previous file untouched; a write that fails midway (disk full at fsync, rename refused) leaves the
previous file whole and no temporary file behind. Crash safety: a subprocess saving a large registry in a
loop is SIGKILLed at random moments, and the file always loads, whole, as one of the versions written.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import llm_drift_otel as ld
from llm_drift_otel import _baseline, _wrappers, cli
from llm_drift_otel._baseline import BaselineRegistry
from llm_drift_otel._log import reset_reported
from provider_drivers import make

SRC = Path(__file__).resolve().parents[1] / "src"


def _registry(variants: int = 3, per_variant: int = 30) -> BaselineRegistry:
    registry = BaselineRegistry(warmup=5)
    for v in range(variants):
        for i in range(per_variant):
            registry.get(f"variant-{v}").learn(ld.fingerprint(json.dumps({"title": "t", f"k{i % 7}": i})))
    return registry


@pytest.fixture
def good_file(tmp_path) -> Path:
    path = tmp_path / "baselines.json"
    assert _registry().save(path) == 3
    return path


def _bad_files(good: Path) -> dict[str, bytes | None]:
    raw = good.read_bytes()
    doc = json.loads(raw)
    future = dict(doc, version=_baseline.FORMAT_VERSION + 1)
    foreign = dict(doc, format="something-else/v1")
    wrong_counts = json.loads(raw)
    first = next(iter(wrong_counts["baselines"].values()))
    first["samples"] = first["samples"] + 1000
    return {
        "corrupted bytes": b"\x00\xff\xfe garbage \x80",
        "truncated at 10%": raw[: len(raw) // 10],
        "truncated at 50%": raw[: len(raw) // 2],
        "truncated one byte short": raw[:-1],
        "empty": b"",
        "JSON but a list": b"[1, 2, 3]",
        "foreign format": json.dumps(foreign).encode(),
        "future version": json.dumps(future).encode(),
        "inconsistent counts": json.dumps(wrong_counts).encode(),
        "a directory": None,
        "missing": None,
    }


@pytest.mark.parametrize("problem", ["corrupted bytes", "truncated at 10%", "truncated at 50%",
                                     "truncated one byte short", "empty", "JSON but a list", "foreign format",
                                     "future version", "inconsistent counts", "a directory", "missing"])
def test_a_bad_baseline_file_is_logged_clearly_and_the_app_starts_fresh(problem, good_file, tmp_path,
                                                                         instrument_with, caplog, monkeypatch):
    monkeypatch.delenv("LLM_DRIFT_BASELINE_FILE", raising=False)
    content = _bad_files(good_file)[problem]
    path = tmp_path / "bad.json"
    if problem == "a directory":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    caplog.set_level(logging.DEBUG)
    reset_reported()
    driver = make("openai")
    telemetry = instrument_with(baseline_file=str(path))
    assert len(_wrappers.current_runtime().baselines) == 0  # fresh
    for _ in range(3):
        assert driver.plain()[1] == "ChatCompletion"
    assert len(telemetry.llm_spans()) == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "llm_drift_otel" and r.levelno >= logging.WARNING]
    assert len(lines) == 1, lines
    assert "LLM_DRIFT_BASELINE_FILE" in lines[0] and str(path) in lines[0] and "empty baselines" in lines[0]
    if problem == "future version":
        assert "newer" in lines[0]
    print(f"\n{problem}: {lines[0]}")


def test_a_good_file_loads_and_a_loader_bug_is_only_a_logged_stage(good_file, instrument_with, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    reset_reported()
    instrument_with(baseline_file=str(good_file))
    assert len(_wrappers.current_runtime().baselines) == 3

    def broken_load(self, path):
        raise RuntimeError("a bug in the loader")

    monkeypatch.setattr(BaselineRegistry, "load", broken_load)
    driver = make("openai")
    for _ in range(3):  # three instrumentations, one log line
        instrument_with(baseline_file=str(good_file))
        assert driver.plain()[1] == "ChatCompletion"
    failed = [r.getMessage() for r in caplog.records if "baseline file load failed" in r.getMessage()]
    assert len(failed) == 1
    assert len(_wrappers.current_runtime().baselines) == 1  # fresh, plus what the call taught


def _unwritable_paths(tmp_path: Path) -> dict[str, Path]:
    """Paths no one can write, even root (the tests may run as root, where file modes do not stop writes)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    a_dir = tmp_path / "a-dir"
    a_dir.mkdir()
    return {"parent is a file": a_file / "baselines.json", "missing directory": tmp_path / "nope" / "b.json",
            "path is a directory": a_dir, "under /proc": Path("/proc/self/baselines.json")}


def test_saving_to_an_unwritable_path_raises_oserror_and_the_cli_says_so_in_one_line(tmp_path, capsys):
    rows = tmp_path / "outputs.jsonl"
    rows.write_text("\n".join(json.dumps({"output": json.dumps({"title": "t", "n": i})}) for i in range(5)))
    for label, path in _unwritable_paths(tmp_path).items():
        with pytest.raises(OSError):
            _registry().save(path)
        code = cli.main(["baseline", "build", str(rows), "--output", str(path)])
        err = capsys.readouterr().err
        assert code == 2, (label, err)
        assert err.count("\n") == 1 and "error" in err and "Traceback" not in err, (label, err)
        assert str(path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-dir", "a-file", "outputs.jsonl"]  # no temp files


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_save_failing_midway_keeps_the_previous_file_whole(failing, good_file, monkeypatch):
    before = good_file.read_bytes()
    bigger = _registry(variants=6)

    def refuse(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    if failing == "write":
        real_fdopen = os.fdopen

        class FullDisk:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(data[: len(data) // 3])
                raise OSError(28, "No space left on device")

            def __getattr__(self, name):
                return getattr(self.f, name)

        monkeypatch.setattr(_baseline.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    elif failing == "fsync":
        monkeypatch.setattr(_baseline.os, "fsync", refuse)
    else:
        monkeypatch.setattr(_baseline.os, "replace", refuse)
    with pytest.raises(OSError):
        bigger.save(good_file)
    monkeypatch.undo()
    assert good_file.read_bytes() == before
    assert [p.name for p in good_file.parent.iterdir()] == [good_file.name]  # the temp file is gone
    assert BaselineRegistry().load(good_file) == 3


WRITER = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {src!r})
    import llm_drift_otel as ld
    from llm_drift_otel import _baseline
    from llm_drift_otel._baseline import BaselineRegistry

    class SlowDisk:
        # the file the registry writes, on a slow disk: 16 KB at a time, 2 ms each, so that a kill lands
        # mid-write often (the registry's own code runs unchanged: only os.fdopen's file is slowed)
        def __init__(self, f):
            self.f = f
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.f.close()
        def write(self, data):
            for i in range(0, len(data), 16384):
                self.f.write(data[i:i + 16384])
                self.f.flush()
                time.sleep(0.002)
        def __getattr__(self, name):
            return getattr(self.f, name)

    real_fdopen = os.fdopen
    _baseline.os.fdopen = lambda fd, mode: SlowDisk(real_fdopen(fd, mode))

    path = sys.argv[1]
    registry = BaselineRegistry(max_variants=2000, warmup=5)
    shapes = [ld.fingerprint(json.dumps({{"title": "t", "k%d" % (i % 60): i, "body": "x" * (i % 50)}}))
              for i in range(300)]
    for v in range({variants}):
        baseline = registry.get("variant-%04d" % v)
        for i in range(40):
            baseline.learn(shapes[(v * 7 + i) % len(shapes)])
    generation = registry.get("generation")
    registry.save(path)
    print("ready", flush=True)
    while True:  # every save has one more sample in `generation` than the one before
        generation.learn(shapes[0])
        registry.save(path)
""")
VARIANTS = 150


def test_sigkill_at_random_moments_never_leaves_a_half_written_file(tmp_path):
    path = tmp_path / "baselines.json"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(src=str(SRC), variants=VARIANTS))
    rng = random.Random(8)
    kills, generations, sizes = 8, [], set()
    started = time.perf_counter()
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.8))  # a few saves in, then killed wherever it is
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        registry = BaselineRegistry(max_variants=2000, warmup=5)
        assert registry.load(path) == VARIANTS + 1  # whole: every variant, every count consistent
        generations.append(dict(registry.items())["generation"].samples)
        sizes.add(path.stat().st_size)
    # a kill between the temp file's creation and the rename leaves that temp file (nothing can remove it
    # after SIGKILL): they prove kills landed mid-write, and that the target was whole all the same
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    elapsed = time.perf_counter() - started
    print(f"\nSIGKILL x{kills}: the file always loaded ({VARIANTS + 1} baselines, {min(sizes) / 1e6:.1f} MB); "
          f"generations seen {generations}; {len(leftovers)} kills landed mid-write (temp files left); "
          f"{elapsed:.1f} s")
    assert max(generations) > 0  # the writer did rewrite the file between kills
    assert leftovers  # and some kills did land mid-write


def test_a_save_removes_temp_files_left_by_a_killed_writer_but_not_a_live_one(tmp_path):
    from llm_drift_otel._baseline import STALE_TEMP_SECONDS, BaselineRegistry as Registry

    path = tmp_path / "baselines.json"
    stale = tmp_path / ".baselines.json.abc123.tmp"
    live = tmp_path / ".baselines.json.def456.tmp"
    other = tmp_path / ".other.json.abc123.tmp"
    for f in (stale, live, other):
        f.write_bytes(b'{"partial":')
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    Registry().save(path)
    assert path.is_file()
    assert not stale.exists()  # a killed writer's leftover
    assert live.exists()  # may be another process mid-save
    assert other.exists()  # not ours
