"""Bad configuration (SPEC §5): each malformed variable gives exactly one log line naming it, its default is
used, and the application runs (three real SDK calls go through, instrumented). A second `instrument()`
does not repeat the line. The same for malformed `instrument()` options (which take precedence over the
variables): they are logged once, naming the option, and never raise into the app. One subprocess sets
every variable malformed at once behind `import llm_drift_otel.auto`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import llm_drift_otel as ld
from llm_drift_otel import _wrappers
from llm_drift_otel._log import reset_reported
from provider_drivers import make

TESTS = Path(__file__).resolve().parent
ALL_VARS = ("LLM_DRIFT_PRIMARY_MODELS", "LLM_DRIFT_BASELINE_FILE", "LLM_DRIFT_WARMUP",
            "LLM_DRIFT_MAX_SHAPES_PER_VARIANT", "LLM_DRIFT_MAX_VARIANTS", "LLM_DRIFT_MAX_SCAN_BYTES",
            "LLM_DRIFT_SIGNATURE_KEYS", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS")
DEFAULTS = {"warmup": 20, "max_shapes_per_variant": 20, "max_variants": 1000, "max_scan_bytes": 262144,
            "hash_signature_keys": False, "capture_content": False, "primary_models": (), "baseline_file": None}

# variable -> (malformed values, the Config field it sets)
MALFORMED = {
    "LLM_DRIFT_PRIMARY_MODELS": (["gpt 4o", ", ,", "openai/gpt-4o,\tanthropic/claude 3"], "primary_models"),
    "LLM_DRIFT_WARMUP": (["abc", "-1", "0", "1.5", "20 samples", "\udcff"], "warmup"),
    "LLM_DRIFT_MAX_SHAPES_PER_VARIANT": (["0", "-3", "twenty", "1e3"], "max_shapes_per_variant"),
    "LLM_DRIFT_MAX_VARIANTS": (["0", "ten", "-1", "1,000"], "max_variants"),
    "LLM_DRIFT_MAX_SCAN_BYTES": (["256KB", "0", "-262144", "0x40000"], "max_scan_bytes"),
    "LLM_DRIFT_SIGNATURE_KEYS": (["md5", "hashed", "yes"], "hash_signature_keys"),
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": (["maybe", "2", "enabled!"], "capture_content"),
}


@pytest.fixture
def clean_env(monkeypatch):
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _lines_naming(caplog, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "llm_drift_otel" and name in r.getMessage()]


def _app_runs(telemetry, driver) -> None:
    """Three real calls through the instrumented SDK: they work, and they are instrumented."""
    before = len(telemetry.llm_spans())
    for _ in range(3):
        assert driver.plain()[1] == "ChatCompletion"
    assert len(telemetry.llm_spans()) == before + 3


@pytest.mark.parametrize("var,value", [(var, value) for var, (values, _) in MALFORMED.items() for value in values])
def test_a_malformed_variable_is_logged_once_and_its_default_used(var, value, clean_env, instrument_with, caplog):
    caplog.set_level(logging.DEBUG)
    clean_env.setenv(var, value)
    driver = make("openai")
    reset_reported()
    telemetry = instrument_with()
    _app_runs(telemetry, driver)
    telemetry = instrument_with()  # instrumenting again does not repeat the line
    _app_runs(telemetry, driver)
    lines = _lines_naming(caplog, var)
    assert len(lines) == 1, lines
    assert "default" in lines[0]
    field = MALFORMED[var][1]
    assert getattr(_wrappers.current_runtime().config, field) == DEFAULTS[field]
    warnings = [r for r in caplog.records if r.name == "llm_drift_otel" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # nothing else went wrong


@pytest.mark.parametrize("problem", ["missing", "directory", "corrupt"])
def test_a_bad_baseline_file_variable_is_logged_once(problem, clean_env, instrument_with, caplog, tmp_path):
    path = tmp_path / "baselines.json"
    if problem == "directory":
        path.mkdir()
    elif problem == "corrupt":
        path.write_bytes(b"\x00\xff not json")
    caplog.set_level(logging.DEBUG)
    clean_env.setenv("LLM_DRIFT_BASELINE_FILE", str(path))
    driver = make("openai")
    reset_reported()
    _app_runs(instrument_with(), driver)
    _app_runs(instrument_with(), driver)
    lines = _lines_naming(caplog, "LLM_DRIFT_BASELINE_FILE")
    assert len(lines) == 1 and str(path) in lines[0] and "empty baselines" in lines[0], lines
    assert len(_wrappers.current_runtime().baselines) == 1  # fresh: only what the calls taught


@pytest.mark.parametrize("value,disabled", [("llm_drift", True), (" openai , llm_drift ", True), (",,,", False),
                                            ("LLM-DRIFT", False), ("\udcff", False), ("", False)])
def test_disabled_instrumentations_variable_never_breaks(value, disabled, clean_env, caplog):
    clean_env.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", value)
    ld.uninstrument()
    ld.instrument()
    try:
        assert (_wrappers.current_runtime() is None) is disabled
        assert make("openai").plain()[1] == "ChatCompletion"
    finally:
        ld.uninstrument()


@pytest.mark.parametrize("option,value,field", [
    ("warmup", -1, "warmup"), ("warmup", "abc", "warmup"), ("max_variants", 0, "max_variants"),
    ("max_shapes_per_variant", 1.5, "max_shapes_per_variant"), ("max_scan_bytes", "big", "max_scan_bytes"),
    ("primary_models", 5, "primary_models"), ("primary_models", ["gpt 4o"], "primary_models"),
    ("capture_content", "maybe", "capture_content"), ("hash_signature_keys", 3, "hash_signature_keys"),
    ("baseline_file", 42, "baseline_file"),
])
def test_a_malformed_option_is_logged_once_and_never_raises(option, value, field, clean_env, instrument_with,
                                                            caplog):
    caplog.set_level(logging.DEBUG)
    driver = make("openai")
    reset_reported()
    _app_runs(instrument_with(**{option: value}), driver)
    _app_runs(instrument_with(**{option: value}), driver)
    lines = _lines_naming(caplog, f"instrument({option}=")
    assert len(lines) == 1, lines
    assert getattr(_wrappers.current_runtime().config, field) == DEFAULTS[field]


def test_string_options_mean_what_they_say(clean_env, instrument_with):
    """`capture_content="false"` (a value read from a config file) must not turn capture on."""
    instrument_with(capture_content="false", hash_signature_keys="hash", warmup="7", primary_models="openai/gpt-4o")
    config = _wrappers.current_runtime().config
    assert (config.capture_content, config.hash_signature_keys, config.warmup, config.primary_models) == (
        False, True, 7, ("openai/gpt-4o",))


APP = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    import llm_drift_otel.auto
    from llm_drift_otel import _wrappers
    from provider_drivers import make

    driver = make("openai")
    results = [driver.plain()[1] for _ in range(3)]
    config = _wrappers.current_runtime().config
    print(json.dumps({{"results": results, "warmup": config.warmup, "capture": config.capture_content,
                      "scan": config.max_scan_bytes, "variants": config.max_variants}}))
""")


def test_every_variable_malformed_at_once_behind_auto(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ALL_VARS}
    env.update({var: values[0] for var, (values, _) in MALFORMED.items() if var != "LLM_DRIFT_WARMUP"})
    env.update({"LLM_DRIFT_WARMUP": "abc", "LLM_DRIFT_BASELINE_FILE": str(tmp_path / "missing.json"),
                "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    script = tmp_path / "app.py"
    script.write_text(APP.format(tests=str(TESTS)))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"results": ["ChatCompletion"] * 3, "warmup": 20, "capture": False, "scan": 262144,
                   "variants": 1000}
    ours = [line for line in done.stderr.splitlines() if "llm_drift_otel" in line]
    for var in list(MALFORMED) + ["LLM_DRIFT_BASELINE_FILE"]:
        assert len([line for line in ours if var in line]) == 1, (var, ours)
    assert len(ours) == len(MALFORMED) + 1, ours
