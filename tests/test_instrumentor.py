"""Wiring: entry point, idempotence, post-import hooks, the disable switch, clean uninstrument."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap

import wrapt
from openai.resources.chat.completions.completions import AsyncCompletions, Completions

import llm_drift_otel as ld
from llm_drift_otel._mock_provider import MockProvider
from openai_helpers import clients, messages


def _is_wrapped_by_us(func) -> bool:
    while func is not None:
        if getattr(getattr(func, "_self_wrapper", None), "__llm_drift_wrapper__", False):
            return True
        func = getattr(func, "__wrapped__", None)
    return False


def test_entry_point_is_registered():
    eps = importlib.metadata.entry_points(group="opentelemetry_instrumentor")
    (ep,) = [e for e in eps if e.name == "llm_drift"]
    assert ep.load() is ld.LLMDriftInstrumentor


def test_instrument_is_idempotent_and_uninstrument_restores(telemetry):
    ld.instrument()  # second call: no double wrapping
    assert _is_wrapped_by_us(Completions.__dict__["create"])
    assert not _is_wrapped_by_us(Completions.__dict__["create"].__wrapped__)
    client, _ = clients(MockProvider())
    client.chat.completions.create(model="gpt-4o", messages=messages())
    assert len(telemetry.llm_spans()) == 1
    ld.uninstrument()
    assert not _is_wrapped_by_us(Completions.__dict__["create"])
    assert not _is_wrapped_by_us(AsyncCompletions.__dict__["create"])
    client.chat.completions.create(model="gpt-4o", messages=messages())
    assert len(telemetry.llm_spans()) == 1


def test_uninstrument_under_another_instrumentation_keeps_theirs(telemetry):
    calls = []

    def theirs(wrapped, instance, args, kwargs):
        calls.append(1)
        return wrapped(*args, **kwargs)

    original = Completions.__dict__["create"].__wrapped__
    wrapt.wrap_function_wrapper(Completions, "create", theirs)
    try:
        client, _ = clients(MockProvider())
        client.chat.completions.create(model="gpt-4o", messages=messages())
        assert calls == [1] and len(telemetry.llm_spans()) == 1
        ld.uninstrument()
        client.chat.completions.create(model="gpt-4o", messages=messages())
        assert calls == [1, 1]  # theirs still runs
        assert len(telemetry.llm_spans()) == 1  # ours does not
        assert not _is_wrapped_by_us(Completions.__dict__["create"])
        assert Completions.__dict__["create"].__wrapped__ is original
    finally:
        Completions.create = original


def _run(code: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_sdk_imported_after_instrument_is_patched_and_import_pulls_no_sdk():
    result = _run("""
        import sys
        import llm_drift_otel as ld
        heavy = ("openai", "anthropic", "google.genai", "botocore", "mistralai", "cohere", "litellm",
                 "opentelemetry.sdk", "llm_drift_otel._refusal", "llm_drift_otel._runtime")
        loaded = [m for m in heavy if m in sys.modules]
        assert not loaded, f"import llm_drift_otel loaded {loaded}"
        ld.instrument()
        assert "openai" not in sys.modules, "instrument() imported openai"
        import openai
        from openai.resources.chat.completions.completions import Completions
        print(type(Completions.__dict__["create"]).__name__)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "FunctionWrapper"


def test_disabled_instrumentations_env_turns_it_off():
    result = _run("""
        import llm_drift_otel as ld
        ld.instrument()
        from openai.resources.chat.completions.completions import Completions
        print(type(Completions.__dict__["create"]).__name__)
    """, {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests,llm_drift"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "function"


def test_auto_import_sets_up_sdk_and_instruments():
    result = _run("""
        import llm_drift_otel.auto
        from opentelemetry import trace
        from openai.resources.chat.completions.completions import Completions
        print(type(trace.get_tracer_provider()).__name__, type(Completions.__dict__["create"]).__name__)
    """, {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["TracerProvider", "FunctionWrapper"]


def test_bad_configuration_is_one_log_line_naming_the_variable():
    result = _run("""
        import logging
        logging.basicConfig(level=logging.WARNING)
        import llm_drift_otel as ld
        ld.instrument()
        ld.uninstrument(); ld.instrument()
        print("app still running")
    """, {"LLM_DRIFT_WARMUP": "twenty", "LLM_DRIFT_SIGNATURE_KEYS": "sha"})
    assert result.returncode == 0
    assert "app still running" in result.stdout
    assert result.stderr.count("LLM_DRIFT_WARMUP") == 1
    assert result.stderr.count("LLM_DRIFT_SIGNATURE_KEYS") == 1


def test_public_surface_is_pinned():
    assert sorted(ld.__all__) == sorted([
        "Baseline", "Contract", "LLMDriftInstrumentor", "ModelOutput", "Shape", "ToolCall", "Verdict",
        "__version__", "fallback", "fingerprint", "instrument", "prompt_variant", "request", "uninstrument",
    ])
    for name in ld.__all__:
        assert getattr(ld, name) is not None
