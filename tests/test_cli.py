"""The `llm-drift-otel` command line: every subcommand's success and failure paths.

Most tests call `cli.main([...])` in-process; one runs the installed console script (and `python -m`) as a
subprocess. Inputs are made here from the mock provider's house styles; the `compare` acceptance test reads
real answers of two models from the shared corpus (skipped with a reason when it is absent).
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

import llm_drift_otel as ld
from llm_drift_otel import cli
from llm_drift_otel._baseline import BaselineRegistry
from llm_drift_otel._mock_provider import STYLES

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ENV_VARS = ("LLM_DRIFT_PRIMARY_MODELS", "LLM_DRIFT_BASELINE_FILE", "LLM_DRIFT_WARMUP",
            "LLM_DRIFT_MAX_SHAPES_PER_VARIANT", "LLM_DRIFT_MAX_VARIANTS", "LLM_DRIFT_MAX_SCAN_BYTES",
            "LLM_DRIFT_SIGNATURE_KEYS", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS")


def corpus_dir() -> Path:
    env = os.environ.get("LLM_DRIFT_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus"


ARENA = corpus_dir() / "arena_hard_v0.1"
GPT4O = ARENA / "gpt-4o-2024-08-06.jsonl"
CLAUDE = ARENA / "claude-3-5-sonnet-20240620.jsonl"
needs_corpus = pytest.mark.skipif(not (GPT4O.is_file() and CLAUDE.is_file()),
                                  reason=f"shared corpus not found at {ARENA} (set LLM_DRIFT_CORPUS)")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COLUMNS", "120")


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def answers(style: str, n: int, seed: int, variant: str | None = None, model: str = "m") -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        row = {"prompt_id": f"p{i}", "model": model, "output": STYLES[style](rng)}
        if variant:
            row["variant"] = variant
        rows.append(row)
    return rows


@pytest.fixture
def recorded(tmp_path):
    """Primary: JSON cards for `card`, prose for `summary`; fallback: markdown for `card`, prose for `summary`."""
    primary = answers("json_card", 60, 1, "card", "gpt-4o") + answers("prose", 60, 2, "summary", "gpt-4o")
    fallback = answers("markdown_bullets", 60, 3, "card", "claude") + answers("prose", 60, 4, "summary", "claude")
    return write_jsonl(tmp_path / "primary.jsonl", primary), write_jsonl(tmp_path / "fallback.jsonl", fallback)


# --- top level ----------------------------------------------------------------------------------------


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert out.strip() == f"llm-drift-otel {ld.__version__}"


def test_no_command_prints_help_and_exits_2(capsys):
    code, _, err = run([], capsys)
    assert code == 2
    assert "demo" in err and "compare" in err


def test_unknown_command_is_one_line(capsys):
    code, _, err = run(["frobnicate"], capsys)
    assert code == 2
    assert "invalid choice" in one_line_error(err)


def test_help_exits_0(capsys):
    code, out, _ = run(["compare", "--help"], capsys)
    assert code == 0
    assert "--fail-over" in out


# --- fingerprint --------------------------------------------------------------------------------------


def test_fingerprint_jsonl_table(tmp_path, capsys):
    rows = answers("json_card", 3, 1) + answers("markdown_bullets", 2, 2)
    path = write_jsonl(tmp_path / "out.jsonl", rows)
    code, out, err = run(["fingerprint", str(path)], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["line", "kind", "id", "signature"]
    assert [line.split()[1] for line in lines[1:]] == ["json"] * 3 + ["markdown"] * 2
    assert [int(line.split()[0]) for line in lines[1:]] == [1, 2, 3, 4, 5]
    shape = ld.fingerprint(rows[0]["output"])
    assert lines[1].split()[2:] == [shape.id, shape.signature]


def test_fingerprint_json_prints_shape_dicts(tmp_path, capsys):
    rows = answers("markdown_bullets", 2, 1) + [{"output": {"title": "t", "actions": ["a"]}}]
    path = write_jsonl(tmp_path / "out.jsonl", rows)
    code, out, _ = run(["fingerprint", "--json", str(path)], capsys)
    assert code == 0
    dicts = [json.loads(line) for line in out.strip().splitlines()]
    assert dicts[0] == ld.fingerprint(rows[0]["output"]).to_dict()
    assert set(dicts[0]) == {"kind", "id", "signature", "length_bucket", "refusal", "features"}
    assert dicts[2]["kind"] == "json"  # parsed JSON in the output field


def test_fingerprint_plain_text_file_is_one_output(tmp_path, capsys):
    text = "# Title\n\n- one\n- two\n\nSome **bold** prose.\n"
    path = tmp_path / "answer.md"
    path.write_text(text)
    code, out, _ = run(["fingerprint", str(path)], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert lines[1].split()[1:3] == ["markdown", ld.fingerprint(text).id]


def test_fingerprint_text_flag_takes_a_one_line_json_as_the_output(tmp_path, capsys):
    path = tmp_path / "answer.json"
    path.write_text('{"title": "x", "summary": "y"}\n')
    code, _, err = run(["fingerprint", str(path)], capsys)  # taken for JSONL: no output field
    assert code == 2 and "no 'output' field" in one_line_error(err)
    code, out, _ = run(["fingerprint", "--text", str(path)], capsys)
    assert code == 0
    assert out.strip().splitlines()[1].split()[1] == "json"


def test_fingerprint_reads_stdin(monkeypatch, capsys):
    data = "".join(json.dumps(r) + "\n" for r in answers("prose", 2, 3)).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run(["fingerprint", "-"], capsys)
    assert code == 0
    assert [line.split()[1] for line in out.strip().splitlines()[1:]] == ["prose", "prose"]


def test_fingerprint_other_output_field(tmp_path, capsys):
    path = write_jsonl(tmp_path / "o.jsonl", [{"answer": "Plain words here."}])
    code, out, _ = run(["fingerprint", "--output-field", "answer", str(path)], capsys)
    assert code == 0 and "prose" in out


def test_fingerprint_signature_keys_hash_from_env(tmp_path, capsys, monkeypatch):
    path = write_jsonl(tmp_path / "o.jsonl", [{"output": '{"title": "a", "summary": "b"}'}])
    _, plain, _ = run(["fingerprint", str(path)], capsys)
    monkeypatch.setenv("LLM_DRIFT_SIGNATURE_KEYS", "hash")
    _, hashed, _ = run(["fingerprint", str(path)], capsys)
    assert "title" in plain and "title" not in hashed


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    ("", "empty, expected JSONL rows with an 'output' field or a text"),
    ("\n  \n", "empty"),
    ('{"output": "a"}\n{"output": "b"}\n{"output": "c",\n', ":3: invalid JSON"),
    ('{"output": "a"}\n{"text": "b", "model": "m"}\n', ":2: no 'output' field (this row has: text, model)"),
    ('{"output": "a"}\n{"output": 42}\n', ":2: 'output' must be a string (or parsed JSON, or null), got a number"),
    ('{"output": "a"}\n[1, 2]\n', ":2: expected a JSON object with an 'output' field, got an array"),
])
def test_fingerprint_bad_input_is_one_line(tmp_path, capsys, content, expected):
    path = tmp_path / "in.jsonl"
    if content is not None:
        path.write_text(content)
    code, out, err = run(["fingerprint", str(path)], capsys)
    assert code == 2
    line = one_line_error(err)
    assert line.startswith("llm-drift-otel fingerprint: error: " + str(path))
    assert expected in line


def test_fingerprint_not_utf8_and_directory(tmp_path, capsys):
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b'{"output": "a"}\n{"output": "\xff"}\n')
    code, _, err = run(["fingerprint", str(path)], capsys)
    assert code == 2 and f"{path}:2: not UTF-8 text" in one_line_error(err)
    code, _, err = run(["fingerprint", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in one_line_error(err)


# --- baseline -----------------------------------------------------------------------------------------


def test_baseline_build_writes_a_file_the_runtime_loads(tmp_path, capsys, monkeypatch):
    rows = answers("json_card", 30, 1, "card") + answers("prose", 25, 2)  # the prose rows have no variant
    src = write_jsonl(tmp_path / "primary.jsonl", rows)
    out_file = tmp_path / "baselines.json"
    code, out, err = run(["baseline", "build", str(src), "-o", str(out_file), "--variant-field", "variant",
                          "--variant", "summary-v1"], capsys)
    assert code == 0, err
    assert "learned 2 baselines from 55 outputs" in out
    assert f"LLM_DRIFT_BASELINE_FILE={out_file}" in out

    registry = BaselineRegistry()
    assert registry.load(out_file) == 2
    card = registry.get("card")
    assert card.samples == 30 and registry.get("summary-v1").samples == 25
    assert card.judge(ld.fingerprint(STYLES["json_card"](random.Random(9)))).drifted is False
    assert card.judge(ld.fingerprint(STYLES["markdown_bullets"](random.Random(9)))).drifted is True

    # what LLM_DRIFT_BASELINE_FILE does at start-up
    from llm_drift_otel._config import from_env
    from llm_drift_otel._runtime import Runtime

    monkeypatch.setenv("LLM_DRIFT_BASELINE_FILE", str(out_file))
    runtime = Runtime(from_env())
    assert runtime.baselines.get("card").samples == 30

    code, out, _ = run(["baseline", "show", str(out_file)], capsys)
    assert code == 0
    assert "2 baselines" in out and "card" in out and "json 100%" in out and "summary-v1" in out


def test_baseline_build_default_variant_is_none(tmp_path, capsys):
    src = write_jsonl(tmp_path / "p.jsonl", answers("prose", 5, 1))
    out_file = tmp_path / "b.json"
    code, out, _ = run(["baseline", "build", str(src), "-o", str(out_file)], capsys)
    assert code == 0
    assert "warming" not in out and "fewer than LLM_DRIFT_WARMUP=20" in out
    registry = BaselineRegistry()
    registry.load(out_file)
    assert [name for name, _ in registry.items()] == ["none"]


def test_baseline_build_failures(tmp_path, capsys):
    src = write_jsonl(tmp_path / "p.jsonl", answers("prose", 3, 1))
    code, _, err = run(["baseline", "build", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "b.json")], capsys)
    assert code == 2 and "missing.jsonl: no such file" in one_line_error(err)
    code, _, err = run(["baseline", "build", str(src), "-o", str(tmp_path / "no" / "dir" / "b.json")], capsys)
    assert code == 2 and "no such directory" in one_line_error(err)
    code, _, err = run(["baseline", "build", str(src)], capsys)  # -o is required
    assert code == 2 and "-o/--output" in one_line_error(err)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"output": "x", "variant": 3}\n{"output": "y", "variant": ["a"]}\n')
    code, _, err = run(["baseline", "build", str(bad), "-o", str(tmp_path / "b.json"), "--variant-field", "variant"],
                       capsys)
    assert code == 2 and "bad.jsonl:2: 'variant' must be a string" in one_line_error(err)
    assert not (tmp_path / "b.json").exists()


def test_baseline_show_failures(tmp_path, capsys):
    code, _, err = run(["baseline", "show", str(tmp_path / "nope.json")], capsys)
    assert code == 2 and "no such file" in one_line_error(err)
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": "something-else"}')
    code, _, err = run(["baseline", "show", str(corrupt)], capsys)
    assert code == 2 and "not a baselines file" in one_line_error(err)
    code, _, err = run(["baseline"], capsys)
    assert code == 2 and "an action is required" in one_line_error(err)


# --- compare ------------------------------------------------------------------------------------------


class Structure(HTMLParser):
    """What the report is made of: tables, SVGs, external references, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.svgs: list[dict] = []
        self.sections: list[dict] = []
        self.external: list[str] = []
        self.scripts = 0
        self.rects = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append(a)
        elif tag == "svg":
            self.svgs.append(a)
        elif tag == "rect":
            self.rects += 1
        elif tag == "section":
            self.sections.append(a)
        elif tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if a.get(key) and not a[key].startswith("#"):
                self.external.append(a[key])


def parse_html(path: Path) -> Structure:
    parser = Structure()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_compare_per_variant_table_html_and_exit_codes(recorded, tmp_path, capsys):
    primary, fallback = recorded
    report = tmp_path / "report.html"
    code, out, err = run(["compare", str(primary), str(fallback), "--variant-field", "variant",
                          "--html", str(report)], capsys)
    assert code == 0, err
    assert "variant 'card'" in out and "variant 'summary'" in out
    card = out[out.index("variant 'card'"):out.index("variant 'summary'")]
    summary = out[out.index("variant 'summary'"):]
    assert "DRIFT  drift score 1.00" in card
    assert "json" in card and "markdown" in card
    assert "LLMFallbackStructuralDrift would fire" in card
    assert "SAME SHAPE  drift score 0.00" in summary
    assert "would not fire" in summary
    assert f"wrote {report}" in out

    html = parse_html(report)
    assert html.scripts == 0 and html.external == []
    assert [t.get("data-variant") for t in html.tables if t.get("class") == "metrics"] == ["card", "summary"]
    mixes = [s for s in html.svgs if s.get("class") == "mix"]
    assert [s.get("data-model") for s in mixes] == ["gpt-4o", "claude", "gpt-4o", "claude"]
    assert len(html.sections) == 2 and html.rects >= 4

    # the CI gate: exit 1 when a drift score exceeds --fail-over
    code, _, err = run(["compare", str(primary), str(fallback), "--variant-field", "variant", "--fail-over", "0.5"],
                       capsys)
    assert code == 1
    assert one_line_error(err) == "llm-drift-otel compare: drift score above --fail-over 0.5 for 'card'"
    code, _, _ = run(["compare", str(primary), str(fallback), "--variant-field", "variant", "--fail-over", "1"], capsys)
    assert code == 0


def test_compare_whole_file_is_one_variant_and_same_model_labels(recorded, capsys):
    primary, _ = recorded
    code, out, _ = run(["compare", str(primary), str(primary)], capsys)
    assert code == 0
    assert "variant 'default' (all rows)" in out
    assert "gpt-4o (primary)" in out and "gpt-4o (fallback)" in out
    assert "drift score 0.00" in out


def test_compare_contract_and_refusals(tmp_path, capsys):
    primary = write_jsonl(tmp_path / "p.jsonl", answers("json_card", 40, 1))
    refusals = [{"output": "I'm sorry, but I can't help with that request."}] * 10
    fallback = write_jsonl(tmp_path / "f.jsonl", answers("markdown_bullets", 30, 2) + refusals)
    code, out, _ = run(["compare", str(primary), str(fallback), "--contract-kind", "json",
                        "--contract-keys", "title,summary", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    variant = doc["variants"][0]
    assert variant["primary"]["contract_violation_rate"] == 0.0
    assert variant["fallback"]["contract_violation_rate"] == 1.0
    assert variant["primary"]["refusal_rate"] == 0.0
    assert variant["fallback"]["refusal_rate"] == pytest.approx(0.25)
    assert variant["drift_score"] == 1.0 and doc["failing"] == []
    code, out, _ = run(["compare", str(primary), str(fallback), "--contract-keys", "title"], capsys)
    assert "contract  JSON keys title" in out and "contract violations" in out


def test_compare_too_few_answers_gives_no_verdict(tmp_path, capsys):
    primary = write_jsonl(tmp_path / "p.jsonl", answers("json_card", 3, 1, "a") + answers("json_card", 10, 1, "b"))
    fallback = write_jsonl(tmp_path / "f.jsonl", answers("markdown_bullets", 10, 2, "a") + answers("prose", 2, 2, "c"))
    code, out, _ = run(["compare", str(primary), str(fallback), "--variant-field", "variant", "--fail-over", "0"],
                       capsys)
    assert code == 0  # no verdict is not a failure
    assert "only 3 primary answers: a baseline needs at least 5" in out
    assert "only 0 fallback answers" in out  # variant b: primary only
    assert "only 0 primary answers" in out  # variant c: fallback only


@pytest.mark.parametrize("which", ["primary", "fallback"])
@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    ("", "empty, expected JSONL rows with an 'output' field"),
    ('{"output": "a"}\n{"output": "b"\n', ":2: invalid JSON"),
    ('{"output": "a"}\n{"outptu": "b"}\n', ":2: no 'output' field"),
    ("just some prose, not JSONL\n", ":1: invalid JSON"),
])
def test_compare_bad_input_is_one_line(recorded, tmp_path, capsys, which, content, expected):
    primary, fallback = recorded
    bad = tmp_path / "bad.jsonl"
    if content is not None:
        bad.write_text(content)
    args = [str(bad), str(fallback)] if which == "primary" else [str(primary), str(bad)]
    code, out, err = run(["compare", *args], capsys)
    assert code == 2
    line = one_line_error(err)
    assert line.startswith(f"llm-drift-otel compare: error: {bad}")
    assert expected in line


def test_compare_usage_errors(recorded, tmp_path, capsys):
    primary, fallback = recorded
    for extra, expected in ((["--fail-over", "2"], "expected a number between 0 and 1"),
                            (["--window", "3"], "expected an integer >= 5"),
                            (["--contract-kind", "yaml"], "invalid choice"),
                            (["--contract-keys", " , "], "expected a comma list of JSON keys"),
                            (["--html", str(tmp_path / "missing" / "r.html")], "no such directory")):
        code, _, err = run(["compare", str(primary), str(fallback), *extra], capsys)
        assert code == 2, extra
        assert expected in one_line_error(err), extra
    code, _, err = run(["compare", str(primary)], capsys)
    assert code == 2 and "required" in one_line_error(err)


@needs_corpus
def test_compare_on_real_answers_of_two_models(tmp_path, capsys):
    """gpt-4o as the primary, claude-3.5-sonnet as the fallback: the report a team reads before go-live."""
    report = tmp_path / "report.html"
    code, out, err = run(["compare", str(GPT4O), str(CLAUDE), "--html", str(report)], capsys)
    assert code == 0, err
    assert "primary   gpt-4o-2024-08-06  (500 answers" in out
    assert "fallback  claude-3-5-sonnet-20240620  (500 answers" in out
    assert "DRIFT  drift score 1.00" in out
    assert "headings" in out and "bold text" in out  # the style markers that differ most
    html = parse_html(report)
    assert html.scripts == 0 and html.external == []
    assert len([t for t in html.tables if t.get("class") == "metrics"]) == 1
    assert [s.get("data-model") for s in html.svgs if s.get("class") == "mix"] == [
        "gpt-4o-2024-08-06", "claude-3-5-sonnet-20240620"]
    assert len([t for t in html.tables if t.get("class") == "shapes"]) == 2

    code, _, err = run(["compare", str(GPT4O), str(CLAUDE), "--fail-over", "0.5"], capsys)
    assert code == 1 and "above --fail-over 0.5" in err

    if not CHROMIUM.exists():
        return  # structure checked above; rendering needs Debian's chromium
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--hide-scrollbars", "--window-size=1200,1600", f"--screenshot={shot}", report.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.is_file(), result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000  # a rendered page of charts and tables, not a blank one


@needs_corpus
def test_compare_same_family_scores_lower_than_another_vendor(capsys):
    mini = ARENA / "gpt-4o-mini-2024-07-18.jsonl"
    if not mini.is_file():
        pytest.skip(f"{mini} not in the corpus")
    code, out, _ = run(["compare", str(GPT4O), str(mini), "--json"], capsys)
    family = json.loads(out)["variants"][0]["drift_score"]
    code, out, _ = run(["compare", str(GPT4O), str(CLAUDE), "--json"], capsys)
    vendor = json.loads(out)["variants"][0]["drift_score"]
    assert family < 0.5 < vendor


# --- check --------------------------------------------------------------------------------------------


def test_check_default_environment(capsys):
    code, out, err = run(["check"], capsys)
    assert code == 0, err
    assert "LLM_DRIFT_WARMUP" in out and "default 20" in out
    assert "openai (openai " in out and "Completions.create" in out
    assert "configuration ok" in out
    assert "llm_drift_otel._instrumentor:LLMDriftInstrumentor" in out


@pytest.mark.parametrize("var, value", [
    ("LLM_DRIFT_WARMUP", "abc"),
    ("LLM_DRIFT_WARMUP", "0"),
    ("LLM_DRIFT_MAX_SCAN_BYTES", "-5"),
    ("LLM_DRIFT_MAX_VARIANTS", "1e3"),
    ("LLM_DRIFT_SIGNATURE_KEYS", "sha256"),
    ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "maybe"),
    ("LLM_DRIFT_PRIMARY_MODELS", "gpt 4o, claude"),
    ("LLM_DRIFT_BASELINE_FILE", "/nonexistent/baselines.json"),
])
def test_check_reports_a_malformed_variable(monkeypatch, capsys, var, value):
    import llm_drift_otel.providers

    monkeypatch.setattr(llm_drift_otel.providers, "discover", lambda: [])  # SDK listing: tested below
    monkeypatch.setenv(var, value)
    code, out, _ = run(["check"], capsys)
    assert code == 1
    line = next(line for line in out.splitlines() if var in line and "!!" in line)
    assert "MALFORMED" in line
    assert out.strip().splitlines()[-1] == f"1 malformed variable: {var}"


def test_check_agrees_with_from_env(monkeypatch):
    """What `check` calls malformed is what the plugin replaces by its default."""
    from llm_drift_otel._config import Config, from_env

    cases = {"LLM_DRIFT_WARMUP": ("abc", "7"), "LLM_DRIFT_MAX_SHAPES_PER_VARIANT": ("0", "3"),
             "LLM_DRIFT_SIGNATURE_KEYS": ("md5", "HASH"),
             "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": ("perhaps", "yes")}
    for var, (bad, good) in cases.items():
        for value, malformed in ((bad, True), (good, False)):
            rows = {r[0]: r for r in cli._check_variables({var: value})}
            assert rows[var][3] is malformed, (var, value)
        config = from_env({var: bad})
        assert config == Config()  # the default is used


def test_check_valid_values_and_baseline_file(tmp_path, monkeypatch, capsys):
    src = write_jsonl(tmp_path / "p.jsonl", answers("prose", 25, 1))
    out_file = tmp_path / "b.json"
    assert cli.main(["baseline", "build", str(src), "-o", str(out_file)]) == 0
    capsys.readouterr()
    monkeypatch.setenv("LLM_DRIFT_BASELINE_FILE", str(out_file))
    monkeypatch.setenv("LLM_DRIFT_PRIMARY_MODELS", "openai/gpt-4o,gpt-4o-*")
    monkeypatch.setenv("LLM_DRIFT_WARMUP", "30")
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "llm_drift")
    code, out, _ = run(["check"], capsys)
    assert code == 0
    assert "1 baseline loaded" in out
    assert "primaries: openai/gpt-4o, gpt-4o-*" in out
    assert "30 (primary responses before verdicts)" in out
    assert "this plugin is DISABLED" in out


def test_check_lists_sdks_it_does_not_import(tmp_path):
    """An SDK reported absent is never imported: run in a fresh process where `cohere` 'is not installed'."""
    script = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "def fake(name, package=None):\n"
        "    return None if name.split('.')[0] in ('cohere', 'litellm') else real(name, package)\n"
        "importlib.util.find_spec = fake\n"
        "from llm_drift_otel import cli\n"
        "code = cli.main(['check'])\n"
        "print('IMPORTED', sorted(m for m in sys.modules if m.split('.')[0] in ('cohere', 'litellm')))\n"
        "sys.exit(code)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "--  cohere (cohere): not installed" in result.stdout
    assert "--  litellm (litellm): not installed" in result.stdout
    assert "IMPORTED []" in result.stdout


# --- the installed command ----------------------------------------------------------------------------


def test_console_script_and_python_m(recorded, tmp_path):
    primary, fallback = recorded
    script = shutil.which("llm-drift-otel", path=str(Path(sys.executable).parent)) or shutil.which("llm-drift-otel")
    if script is None:
        pytest.skip("the llm-drift-otel console script is not installed (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    result = subprocess.run([script, "compare", str(primary), str(fallback), "--variant-field", "variant",
                             "--fail-over", "0.5"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    assert "variant 'card'" in result.stdout
    assert result.stderr.strip() == "llm-drift-otel compare: drift score above --fail-over 0.5 for 'card'"

    result = subprocess.run([script, "fingerprint", str(tmp_path / "missing.jsonl")], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == f"llm-drift-otel fingerprint: error: {tmp_path / 'missing.jsonl'}: no such file"

    result = subprocess.run([sys.executable, "-m", "llm_drift_otel", "--version"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0 and result.stdout.strip() == f"llm-drift-otel {ld.__version__}"
