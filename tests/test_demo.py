"""`llm-drift-otel demo`: it runs to completion with no network, shows the drift alert during the failover
window and none before it -- with a real Prometheus evaluating the shipped rules, and without one -- and
stops cleanly on Ctrl-C. Also the pieces it is built of: the mock provider's Anthropic Messages API and tool
calls (through the real SDKs over real HTTP), the shortened rules, the live view.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anthropic
import openai
import pytest

import llm_drift_otel as ld
from llm_drift_otel import _demo, cli
from llm_drift_otel._mock_provider import MockProvider

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "collector" / "prometheus" / "llm-drift-rules.yml"
DURATION = 30  # seconds; the primary fails from 9s to 21s
EVENT = re.compile(r"^\[\s*(?P<t>\d+\.\d)s\] ALERT (?P<name>\w+): variant (?P<variant>\S+)\s+\((?P<source>Prometheus|in-process)")
FAILOVER = re.compile(r"fails \(429\) from (?P<start>[\d.]+)s to (?P<end>[\d.]+)s")
PROM_READY = re.compile(r"ready in [\d.]+s at http://127\.0\.0\.1:(?P<port>\d+)")
ENV_VARS = ("LLM_DRIFT_PRIMARY_MODELS", "LLM_DRIFT_BASELINE_FILE", "LLM_DRIFT_WARMUP", "LLM_DRIFT_MAX_SCAN_BYTES",
            "LLM_DRIFT_MAX_SHAPES_PER_VARIANT", "LLM_DRIFT_MAX_VARIANTS", "LLM_DRIFT_SIGNATURE_KEYS",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS")


def demo_env(path: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("COLUMNS", None)
    if path is not None:
        env["PATH"] = path
    env.update(extra)
    return env


def run_demo(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llm_drift_otel", "demo", "--duration", str(DURATION), "--seed", "1",
                           *args], capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def alert_events(stdout: str) -> list[tuple[float, str, str, str]]:
    out = []
    for line in stdout.splitlines():
        match = EVENT.match(line)
        if match:
            out.append((float(match["t"]), match["name"], match["variant"], match["source"]))
    return out


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def assert_failover_story(stdout: str, source: str) -> list[tuple[float, str, str, str]]:
    """The alert fires for the drifting variants during the failover window, none fires before it."""
    window = FAILOVER.search(stdout)
    assert window, stdout
    start, end = float(window["start"]), float(window["end"])
    assert (start, end) == (0.3 * DURATION, 0.7 * DURATION)
    events = alert_events(stdout)
    assert events, stdout
    assert all(t >= start for t, *_ in events), f"an alert before the failover at {start}s: {events}"
    drift = {(variant, src): t for t, name, variant, src in events if name == "LLMFallbackStructuralDrift"}
    for variant in ("support-card", "triage"):
        assert (variant, source) in drift, (variant, source, events)
        assert start <= drift[(variant, source)] <= end, (variant, drift[(variant, source)], start, end)
    assert not any(variant == "summary" for _, _, variant, _ in events), events  # the control variant
    assert "none fired before the failover." in stdout
    assert re.search(r"LLMFallbackStructuralDrift: variant support-card\s+fired at\s+[\d.]+s \(\+[\d.]+s into the "
                     r"failover\)", stdout), stdout
    assert "no LLMFallbackStructuralDrift for summary: its fallback answers in the primary's structure" in stdout
    return events


# --- the acceptance runs --------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("prometheus") is None,
                    reason="prometheus not on PATH: run scripts/install-prometheus.sh (scripts/test.sh does)")
def test_demo_with_prometheus_shows_the_alert_during_the_failover_only():
    started = time.monotonic()
    result = run_demo(env=demo_env())
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr
    out = result.stdout
    ready = PROM_READY.search(out)
    assert ready, out
    events = assert_failover_story(out, "Prometheus")
    assert_failover_story(out, "in-process")
    names = {name for _, name, variant, source in events if source == "Prometheus" and variant == "support-card"}
    assert {"LLMFallbackStructuralDrift", "LLMFallbackShapeUnseenOnPrimary", "LLMShapeContractViolations"} <= names
    assert "alerts as Prometheus reported them" in out
    assert port_closed(int(ready["port"])), "Prometheus still listening after the demo ended"
    assert took < 90, took


def test_demo_without_prometheus_says_how_to_get_it_and_alerts_in_process(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()  # a PATH where no prometheus is to be found
    result = run_demo(env=demo_env(path=str(empty)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr
    out = result.stdout
    assert "Prometheus: not on PATH" in out and "apt-get install prometheus" in out
    assert "scripts/install-prometheus.sh" in out
    assert_failover_story(out, "in-process")
    assert "alerts as Prometheus reported them" not in out
    # the plain (non-terminal) view: periodic status lines, no escape sequences
    assert "\x1b[" not in out
    assert re.search(r"^\[\s*\d+\.\ds\] primary up \| served: ", out, re.M)
    assert re.search(r"^\[\s*\d+\.\ds\] PRIMARY DOWN \| served: .*claude-3-5-sonnet-20240620 \d+", out, re.M)


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not on PATH")
def test_ctrl_c_stops_cleanly():
    process = subprocess.Popen([sys.executable, "-m", "llm_drift_otel", "demo", "--duration", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=demo_env(),
                               stdin=subprocess.DEVNULL)
    lines: list[str] = []
    running = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("running for"):
                running.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert running.wait(60), "".join(lines)
        time.sleep(3)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=10)
    stderr = process.stderr.read() if process.stderr else ""
    out = "".join(lines)
    assert code == 130, out + stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "interrupted: stopped the mock providers and Prometheus." in out
    assert "failover window 18s – 42s: not reached" in out
    port = PROM_READY.search(out)
    assert port and port_closed(int(port["port"])), out


# --- options and failures ---------------------------------------------------------------------------------


def test_duration_too_short_is_a_usage_error(capsys):
    assert cli.main(["demo", "--duration", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err]
    assert "--duration: expected at least 20 seconds" in err


def test_otlp_endpoint_without_the_exporter_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(_demo, "_otlp_available", lambda: False)
    assert cli.main(["demo", "--otlp-endpoint", "http://127.0.0.1:4318", "--no-prometheus"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("llm-drift-otel demo: error: --otlp-endpoint needs the OTLP/HTTP exporter: "
                   "pip install opentelemetry-exporter-otlp-proto-http")


def test_bad_prometheus_path_and_rules(tmp_path, capsys):
    assert cli.main(["demo", "--prometheus", str(tmp_path / "nope")]) == 2
    assert "not found or not executable" in capsys.readouterr().err
    assert cli.main(["demo", "--prometheus", "x", "--no-prometheus"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    fake = tmp_path / "prometheus"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    args = argparse.Namespace(otlp_endpoint=None, prometheus=str(fake), no_prometheus=False,
                              rules=str(tmp_path / "rules.yml"))
    with pytest.raises(_demo.DemoError, match="--rules .*rules.yml: no such file"):
        _demo._check_setup(args, io.StringIO())


def otlp_exporter_installed() -> bool:
    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not otlp_exporter_installed(), reason="opentelemetry-exporter-otlp-proto-http not installed")
def test_otlp_endpoint_exports_spans_and_metrics(tmp_path):
    received: dict[str, int] = {}

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            received[self.path] = received.get(self.path, 0) + 1
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "llm_drift_otel", "demo", "--duration", "20", "--no-prometheus",
             "--otlp-endpoint", f"http://127.0.0.1:{server.server_address[1]}"],
            capture_output=True, text=True, timeout=90, env=demo_env(), stdin=subprocess.DEVNULL)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert received.get("/v1/traces", 0) >= 1 and received.get("/v1/metrics", 0) >= 1, received


# --- the pieces ---------------------------------------------------------------------------------------------


@pytest.fixture
def providers():
    primary = MockProvider(styles={}, snapshots={"gpt-4o": "gpt-4o-2024-08-06"}, seed=3,
                           prompt_styles={v.system: {"gpt-4o": v.primary_style} for v in _demo.variants()})
    fallback = MockProvider(styles={}, snapshots={}, seed=4,
                            prompt_styles={v.system: {"claude-x": v.fallback_style} for v in _demo.variants()})
    servers = primary.serve(), fallback.serve()
    yield primary, fallback, servers
    for server in servers:
        server.stop()


def variant(name: str) -> _demo.Variant:
    return next(v for v in _demo.variants() if v.name == name)


def test_mock_answers_the_anthropic_messages_api(providers):
    _, fallback, (_, server) = providers
    client = anthropic.Anthropic(api_key="k", base_url=server.root_url, max_retries=0)
    card = variant("support-card")
    message = client.messages.create(model="claude-x", max_tokens=100, system=card.system,
                                     messages=[{"role": "user", "content": "hi"}])
    assert message.type == "message" and message.model == "claude-x" and message.stop_reason == "end_turn"
    assert ld.fingerprint(message).kind == "markdown"

    triage = variant("triage")
    message = client.messages.create(model="claude-x", max_tokens=100, system=triage.system, tools=[_demo.TICKET_TOOL],
                                     messages=[{"role": "user", "content": "hi"}])
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[1].name == "create_ticket" and set(message.content[1].input) == {
        "priority", "category", "summary"}
    assert message.stop_reason == "tool_use"
    assert ld.fingerprint(message).signature.endswith("+text")

    with client.messages.stream(model="claude-x", max_tokens=100, system=triage.system,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["text", "tool_use"]
    assert final.content[1].input["priority"] in ("low", "normal", "high", "urgent")

    summary = variant("summary")
    with client.messages.stream(model="claude-x", max_tokens=100, system=summary.system,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
    assert text and ld.fingerprint(text).kind == "prose"

    count = client.messages.count_tokens(model="claude-x", messages=[{"role": "user", "content": "hi"}])
    assert count.input_tokens == 42

    for status, error in ((429, anthropic.RateLimitError), (529, anthropic.APIStatusError),
                          (503, anthropic.InternalServerError)):
        fallback.fail_status = status
        fallback.failing.add("claude-x")
        with pytest.raises(error) as caught:
            client.messages.create(model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == status
    assert caught.value.body == {"type": "error", "error": {"type": "api_error", "message": "claude-x is unavailable"}}


def test_mock_openai_tool_calls_and_prompt_styles(providers):
    primary, _, (server, _) = providers
    client = openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0)
    triage = variant("triage")
    messages = [{"role": "system", "content": triage.system}, {"role": "user", "content": "hi"}]
    response = client.chat.completions.create(model="gpt-4o", messages=messages)
    call = response.choices[0].message.tool_calls[0]
    assert response.choices[0].finish_reason == "tool_calls" and response.choices[0].message.content is None
    assert call.function.name == "create_ticket" and set(json.loads(call.function.arguments)) == {
        "priority", "category", "summary"}
    assert ld.fingerprint(response).kind == "tool_call"

    arguments = ""
    for chunk in client.chat.completions.create(model="gpt-4o", messages=messages, stream=True):
        for delta in chunk.choices[0].delta.tool_calls or () if chunk.choices else ():
            arguments += delta.function.arguments or ""
    assert set(json.loads(arguments)) == {"priority", "category", "summary"}

    card = variant("support-card")
    response = client.chat.completions.create(model="gpt-4o", messages=[
        {"role": "system", "content": card.system}, {"role": "user", "content": "hi"}])
    assert response.model == "gpt-4o-2024-08-06"
    assert set(json.loads(response.choices[0].message.content)) == {"title", "summary", "actions", "confidence"}

    # without a matching prompt the provider falls back to `styles` / `default_style`, as before
    assert primary.style_for("gpt-4o", "something else") == "prose"
    assert MockProvider(styles={"m": "json_card"}).text_for("m").startswith("{")


def test_shortened_rules_are_valid(tmp_path):
    text = _demo.fast_rules(RULES.read_text())
    assert "rate(llm_drift_responses_total[10s])" in text and "[1h]" not in text
    assert "for: 3s" in text and "offset 10s" in text and not re.search(r"for: \d+m", text)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not on PATH")
    (tmp_path / "rules.yml").write_text(text)
    result = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _fed_state() -> _demo.State:
    state = _demo.State(_demo.variants())
    state.start -= 12.0  # 12 s into the run
    state.fail_window = (9.0, 21.0)
    state.primary_down = True
    rng = __import__("random").Random(1)
    from llm_drift_otel._mock_provider import STYLES

    card = variant("support-card")
    for _ in range(12):
        state.on_answer(card, False, ld.fingerprint(STYLES["json_card"](rng)))
        state.on_span({"gen_ai.operation.name": "chat", "llm_drift.serving.model": "gpt-4o-2024-08-06",
                       "llm_drift.prompt.variant": "support-card", "llm_drift.fallback.active": False,
                       "llm_drift.shape.drifted": False, "llm_drift.shape.drift_score": 0.0})
    for _ in range(8):
        state.on_answer(card, True, ld.fingerprint(STYLES["markdown_bullets"](rng)))
        state.on_span({"gen_ai.operation.name": "chat", "error.type": "RateLimitError", "gen_ai.request.model": "gpt-4o"})
        state.on_span({"gen_ai.operation.name": "chat", "llm_drift.serving.model": _demo.FALLBACK_MODEL,
                       "llm_drift.prompt.variant": "support-card", "llm_drift.fallback.active": True,
                       "llm_drift.shape.drifted": True, "llm_drift.shape.drift_score": 1.0})
    return state


def test_in_process_rule_fires_after_the_hold_time_and_the_view_shows_it():
    state = _fed_state()
    assert state.evaluate() == []  # the condition holds, but not yet for HOLD_S
    state.variants["support-card"].condition_since -= _demo.HOLD_S
    fired = state.evaluate()
    assert [(r.name, r.variant, r.source) for r in fired] == [("LLMFallbackStructuralDrift", "support-card", "in-process")]
    verdict = state.variants["support-card"].window_verdict
    assert verdict.ready and verdict.drifted

    out = io.StringIO()
    view = _demo.View(out, state, tty=True, color=True, duration=30, prometheus_label=None)
    text = "\n".join(line for line, _ in view.frame(state.now(), 120, 50))
    assert "PRIMARY DOWN: gpt-4o answers 429 until 21s" in text
    assert "ALERT LLMFallbackStructuralDrift: variant support-card  (in-process, since" in text
    assert re.search(r"support-card\s+JSON card\s+ready 12\s+12 / 8\s+100% \(1.00\)\s+DRIFT 1.00 n=8\s+ALERT", text)
    view.draw(state.now())
    view.draw(state.now())
    drawn = out.getvalue()
    assert "\x1b[31;1mALERT LLMFallbackStructuralDrift: variant support-card" in drawn  # in red
    assert re.search(r"\x1b\[\d+F\x1b\[J", drawn)  # the second frame redraws the first in place
    assert all(len(re.sub(r"\x1b\[[\d;]*m", "", line)) < 120 for line in drawn.split("\n"))

    plain = io.StringIO()
    _demo.View(plain, state, tty=False, color=False, duration=30, prometheus_label=None).plain_tick(state.now())
    assert "ALERT LLMFallbackStructuralDrift: variant support-card" in plain.getvalue()
    assert "\x1b[" not in plain.getvalue()


def test_prometheus_alerts_are_tracked_from_the_api_answer():
    state = _demo.State(_demo.variants())
    pending = {"labels": {"alertname": "LLMFallbackStructuralDrift", "prompt_variant": "triage"}, "state": "pending"}
    firing = {**pending, "state": "firing"}
    state.on_prometheus([pending])
    assert state.alerts == []
    state.on_prometheus([firing, firing])
    state.on_prometheus([firing])
    assert [(r.name, r.variant, r.source, r.resolved) for r in state.alerts] == [
        ("LLMFallbackStructuralDrift", "triage", "Prometheus", None)]
    state.on_prometheus([])
    assert state.alerts[0].resolved is not None
    summary = _demo._summary(state, 30, True, False)
    assert "LLMFallbackStructuralDrift: variant triage" in summary and "resolved at" in summary
