"""`llm-drift-otel demo`: the product doing its job in one command, with no API key and no network.

What runs, all on 127.0.0.1:

* two mock providers (`_mock_provider.MockProvider`, real HTTP servers): an OpenAI-compatible primary
  (`gpt-4o`, served as `gpt-4o-2024-08-06`) and an Anthropic-compatible fallback
  (`claude-3-5-sonnet-20240620`), each answering three prompt variants in its own house style:

  | variant        | the app expects          | primary (gpt-4o)          | fallback (claude)                      |
  |----------------|--------------------------|---------------------------|----------------------------------------|
  | `support-card` | one JSON card (contract) | the JSON card             | markdown: heading, bullets, bold note  |
  | `summary`      | plain prose (streamed)   | prose                     | prose (the control: same structure)    |
  | `triage`       | a `create_ticket` call   | the tool call, no text    | a sentence, then the tool call         |

* an ordinary app with real `openai` and `anthropic` SDK clients, instrumented by `ld.instrument()` with
  an in-process TracerProvider and MeterProvider: each request runs in `ld.prompt_variant(...)` and
  `ld.request()`; when the primary fails the app asks the fallback. Requests go at a steady rate; the
  primary answers 429 from 30% to 70% of the run;
* a live view: requests per serving model, the fallback share, per variant the per-response verdicts
  of the instrumentation (spans), a window test (`Baseline.compare` of the last fallback answers against
  the variant's primary baseline), and the `LLMFallbackStructuralDrift` condition of the shipped rules
  evaluated in-process on the same short window the Prometheus run uses;
* with `prometheus` on PATH: a real Prometheus scraping the app's metrics (OTel Prometheus exporter)
  with the shipped rules file, windows shortened (5m -> 10s, `for:` -> 3s), its alerts read from
  `/api/v1/alerts`.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import json
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

PRIMARY_PROVIDER = "openai"
PRIMARY_MODEL = "gpt-4o"
PRIMARY_SERVED = "gpt-4o-2024-08-06"
FALLBACK_PROVIDER = "anthropic"
FALLBACK_MODEL = "claude-3-5-sonnet-20240620"
FAIL_STATUS = 429

WARMUP = 10  # primary answers a variant's baseline needs (LLM_DRIFT_WARMUP for the demo)
WINDOW_S = 10.0  # the alert window, in-process and in the shortened Prometheus rules
HOLD_S = 3.0  # the alert's `for:`, likewise
WINDOW_N = 20  # answers in the window test
FAIL_FROM, FAIL_UNTIL = 0.3, 0.7
ALERT = "LLMFallbackStructuralDrift"

_PROMETHEUS_HINT = ("apt-get install prometheus (Debian/Ubuntu), or scripts/install-prometheus.sh in the "
                    "repository; or pass --prometheus PATH")


class DemoError(Exception):
    """Something the user can fix: one line, exit 2."""


# --- the prompt variants and the app ------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    system: str
    weight: float
    primary_style: str
    fallback_style: str
    expects: str
    stream: bool = False
    tools: bool = False
    contract: Any = None


TICKET_TOOL = {
    "name": "create_ticket",
    "description": "Open a support ticket",
    "input_schema": {"type": "object", "required": ["priority", "category", "summary"],
                     "properties": {"priority": {"type": "string", "enum": ["low", "normal", "high", "urgent"]},
                                    "category": {"type": "string"}, "summary": {"type": "string"}}},
}

QUESTIONS = ("Where is my order #{n}?", "I was charged twice for invoice {n}.", "How do I change my delivery address?",
             "My password reset link for account {n} does not work.", "Can I return item {n} after 30 days?",
             "The discount code from newsletter {n} is rejected.")


def variants() -> tuple[Variant, ...]:
    from ._contract import Contract

    return (
        Variant("support-card",
                "You are Acme's support assistant. Answer with one JSON card with keys title, summary, "
                "actions (a list of strings) and confidence (0..1). No prose, no markdown.",
                0.4, "json_card", "markdown_bullets", "JSON card",
                contract=Contract(kind="json", json_keys=["title", "summary", "actions"])),
        Variant("summary",
                "Summarise the customer's conversation for the next agent in plain prose, two to four sentences.",
                0.3, "prose", "prose", "prose", stream=True),
        Variant("triage",
                "Triage the customer's message: call create_ticket with priority, category and summary.",
                0.3, "tool_ticket", "text_then_tool_ticket", "tool call", tools=True),
    )


class App:
    """The instrumented application: primary first, the fallback when the primary fails."""

    def __init__(self, openai_client: Any, anthropic_client: Any) -> None:
        import anthropic
        import openai

        self.openai = openai_client
        self.anthropic = anthropic_client
        self.primary_errors: tuple[type[BaseException], ...] = (openai.APIStatusError, openai.APIConnectionError,
                                                                 openai.APITimeoutError)
        self.fallback_errors: tuple[type[BaseException], ...] = (anthropic.APIStatusError,
                                                                  anthropic.APIConnectionError)

    def handle(self, variant: Variant, question: str) -> tuple[bool, Any]:
        """One user request; (served by the fallback, the shape of the answer) -- shape None if both failed."""
        import llm_drift_otel as ld

        with ld.prompt_variant(variant.name, contract=variant.contract), ld.request():
            try:
                return False, ld.fingerprint(self._primary(variant, question))
            except self.primary_errors:
                pass
            try:
                return True, ld.fingerprint(self._fallback(variant, question))
            except self.fallback_errors:
                return True, None

    def _primary(self, variant: Variant, question: str) -> Any:
        import llm_drift_otel as ld

        messages = [{"role": "system", "content": variant.system}, {"role": "user", "content": question}]
        kwargs: dict[str, Any] = {}
        if variant.tools:
            kwargs["tools"] = [{"type": "function", "function": {
                "name": TICKET_TOOL["name"], "description": TICKET_TOOL["description"],
                "parameters": TICKET_TOOL["input_schema"]}}]
        if variant.stream:
            text = []
            for chunk in self.openai.chat.completions.create(model=PRIMARY_MODEL, messages=messages, stream=True,
                                                             stream_options={"include_usage": True}):
                if chunk.choices and chunk.choices[0].delta.content:
                    text.append(chunk.choices[0].delta.content)
            return ld.ModelOutput(text="".join(text))
        return self.openai.chat.completions.create(model=PRIMARY_MODEL, messages=messages, **kwargs)

    def _fallback(self, variant: Variant, question: str) -> Any:
        kwargs: dict[str, Any] = {"model": FALLBACK_MODEL, "max_tokens": 1024, "system": variant.system,
                                  "messages": [{"role": "user", "content": question}]}
        if variant.tools:
            kwargs["tools"] = [TICKET_TOOL]
        if variant.stream:
            with self.anthropic.messages.stream(**kwargs) as stream:
                return stream.get_final_message()
        return self.anthropic.messages.create(**kwargs)


# --- what the live view knows ----------------------------------------------------------------------------


@dataclass
class CallRecord:
    t: float
    variant: str
    fallback: bool
    drifted: bool | None  # None while the baseline warms up
    score: float | None


@dataclass
class VariantState:
    variant: Variant
    baseline: Any
    primary: int = 0
    fallback: int = 0
    calls: deque = field(default_factory=lambda: deque(maxlen=2000))  # CallRecord from spans
    recent_fallback: deque = field(default_factory=lambda: deque(maxlen=WINDOW_N))  # (t, shape)
    condition_since: float | None = None
    firing_since: float | None = None
    window_verdict: Any = None
    window_n: int = 0


@dataclass
class AlertRecord:
    name: str
    variant: str
    source: str  # "in-process" or "Prometheus"
    fired: float
    resolved: float | None = None


class State:
    """Everything the view shows; fed by the span processor, the app loop and the Prometheus poller."""

    def __init__(self, variant_list: tuple[Variant, ...]) -> None:
        import llm_drift_otel as ld

        self.lock = threading.Lock()
        self.start = time.monotonic()
        self.variants = {v.name: VariantState(v, ld.Baseline(warmup=WARMUP)) for v in variant_list}
        self.served: Counter = Counter()  # serving model -> successful calls
        self.served_times: deque = deque(maxlen=5000)  # (t, serving model)
        self.failed: Counter = Counter()  # requested model -> failed calls
        self.failed_times: deque = deque(maxlen=5000)
        self.requests = 0
        self.fallback_requests = 0
        self.unanswered = 0
        self.events: list[tuple[float, str, str]] = []  # (t, text, style)
        self.alerts: list[AlertRecord] = []
        self.prom_alerts: dict[tuple[str, str], dict[str, Any]] = {}
        self.prom_error: str | None = None
        self.primary_down = False
        self.fail_window: tuple[float, float] = (0.0, 0.0)

    def now(self) -> float:
        return time.monotonic() - self.start

    def event(self, text: str, style: str = "") -> None:
        with self.lock:
            self.events.append((self.now(), text, style))

    # spans
    def on_span(self, attributes: dict[str, Any]) -> None:
        t = self.now()
        with self.lock:
            if "error.type" in attributes:
                model = str(attributes.get("gen_ai.request.model", "?"))
                self.failed[model] += 1
                self.failed_times.append((t, model))
                return
            serving = str(attributes.get("llm_drift.serving.model", "unknown"))
            self.served[serving] += 1
            self.served_times.append((t, serving))
            state = self.variants.get(str(attributes.get("llm_drift.prompt.variant")))
            if state is None:
                return
            fallback = bool(attributes.get("llm_drift.fallback.active"))
            if fallback:
                state.fallback += 1
            else:
                state.primary += 1
            drifted = attributes.get("llm_drift.shape.drifted")
            score = attributes.get("llm_drift.shape.drift_score")
            state.calls.append(CallRecord(t, state.variant.name, fallback,
                                          None if drifted is None else bool(drifted),
                                          None if score is None else float(score)))

    # the app
    def on_answer(self, variant: Variant, fallback: bool, shape: Any) -> None:
        t = self.now()
        with self.lock:
            self.requests += 1
            self.fallback_requests += int(fallback)
            if shape is None:
                self.unanswered += 1
                return
            state = self.variants[variant.name]
            if fallback:
                state.recent_fallback.append((t, shape))
            else:
                state.baseline.learn(shape)

    # the in-process rule, evaluated on every refresh
    def evaluate(self) -> list[AlertRecord]:
        """LLMFallbackStructuralDrift as the shipped rule computes it, on the last WINDOW_S seconds."""
        t = self.now()
        fired = []
        with self.lock:
            for name, state in self.variants.items():
                recent = [c for c in state.calls if c.t >= t - WINDOW_S]
                fb = [c for c in recent if c.fallback]
                pr = [c for c in recent if not c.fallback]
                fb_share = sum(1 for c in fb if c.drifted) / len(fb) if fb else None
                pr_share = sum(1 for c in pr if c.drifted) / len(pr) if pr else 0.0
                holds = fb_share is not None and fb_share >= 0.5 and fb_share - pr_share >= 0.3
                if holds:
                    if state.condition_since is None:
                        state.condition_since = t
                    if state.firing_since is None and t - state.condition_since >= HOLD_S:
                        state.firing_since = t
                        record = AlertRecord(ALERT, name, "in-process", t)
                        self.alerts.append(record)
                        fired.append(record)
                        self.events.append((t, f"ALERT {ALERT}: variant {name}  (in-process: {fb_share:.0%} of "
                                               f"fallback answers drifted in the last {WINDOW_S:g}s, primary "
                                               f"{pr_share:.0%})", "alert"))
                else:
                    state.condition_since = None
                    if state.firing_since is not None:
                        state.firing_since = None
                        for record in self.alerts:
                            if record.variant == name and record.source == "in-process" and record.resolved is None:
                                record.resolved = t
                        self.events.append((t, f"resolved {ALERT}: variant {name}  (in-process)", "ok"))
                shapes = [s for ts, s in state.recent_fallback if ts >= t - 2 * WINDOW_S]
                state.window_n = len(shapes)
                state.window_verdict = state.baseline.compare(shapes) if shapes else None
        return fired

    def on_prometheus(self, alerts: list[dict[str, Any]]) -> None:
        t = self.now()
        with self.lock:
            self.prom_error = None
            seen = set()
            for alert in alerts:
                labels = alert.get("labels", {})
                name = labels.get("alertname", "?")
                variant = labels.get("prompt_variant") or labels.get("llm_drift_prompt_variant") or ""
                key = (name, variant)
                if key in seen:  # several series of one alert (e.g. one per shape id): the worst state wins
                    if alert.get("state") == "firing":
                        self.prom_alerts[key]["state"] = "firing"
                    else:
                        continue
                seen.add(key)
                entry = self.prom_alerts.setdefault(key, {"state": None, "fired": None, "resolved": None,
                                                          "pending": t})
                state = alert.get("state")
                if state == "firing" and entry["fired"] is None or (state == "firing" and entry["resolved"] is not None):
                    entry["fired"], entry["resolved"] = t, None
                    self.alerts.append(AlertRecord(name, variant, "Prometheus", t))
                    self.events.append((t, f"ALERT {name}: variant {variant}  (Prometheus: firing)", "alert"))
                entry["state"] = state
            for key, entry in self.prom_alerts.items():
                if key not in seen and entry["state"] is not None:
                    if entry["state"] == "firing":
                        entry["resolved"] = t
                        for record in self.alerts:
                            if (record.name, record.variant, record.source) == (*key, "Prometheus") and record.resolved is None:
                                record.resolved = t
                        self.events.append((t, f"resolved {key[0]}: variant {key[1]}  (Prometheus)", "ok"))
                    entry["state"] = None

    def on_prometheus_error(self, message: str) -> None:
        with self.lock:
            self.prom_error = message


# --- rendering ---------------------------------------------------------------------------------------------

_RED, _YELLOW, _GREEN, _DIM, _BOLD, _RESET = "\x1b[31;1m", "\x1b[33m", "\x1b[32m", "\x1b[2m", "\x1b[1m", "\x1b[0m"


def _bar(share: float, width: int) -> str:
    full = int(round(max(0.0, min(1.0, share)) * width))
    return "█" * full + "░" * (width - full)


def _fmt_t(t: float) -> str:
    return f"{t:5.1f}s"


class View:
    """Redraws a frame in place on a terminal; prints status lines and events otherwise."""

    def __init__(self, out: TextIO, state: State, *, tty: bool, color: bool, duration: float,
                 prometheus_label: str | None) -> None:
        self.out, self.state, self.tty, self.color = out, state, tty, color
        self.duration = duration
        self.prometheus_label = prometheus_label
        self._lines = 0
        self._printed_events = 0
        self._next_status = 0.0

    def paint(self, text: str, style: str) -> str:
        if not self.color or not style:
            return text
        code = {"alert": _RED, "pending": _YELLOW, "ok": _GREEN, "dim": _DIM, "bold": _BOLD, "down": _RED}[style]
        return f"{code}{text}{_RESET}"

    # plain mode --------------------------------------------------------------------------------------
    def plain_tick(self, t: float, force: bool = False) -> None:
        with self.state.lock:
            events = self.state.events[self._printed_events:]
            self._printed_events = len(self.state.events)
        for et, text, style in events:
            self.out.write(f"[{_fmt_t(et)}] {self.paint(text, style)}\n")
        if force or t >= self._next_status:
            self._next_status = t + 5.0
            self.out.write(f"[{_fmt_t(t)}] {self.status_line(t)}\n")
        self.out.flush()

    def status_line(self, t: float) -> str:
        s = self.state
        with s.lock:
            order = sorted(s.served, key=lambda m: (m != PRIMARY_SERVED, m))
            served = ", ".join(f"{m} {s.served[m]}" for m in order) or "none yet"
            share = self._fallback_share(t)
            warming = [f"{name} {v.baseline.samples}/{WARMUP}" for name, v in s.variants.items() if not v.baseline.ready]
            if warming:
                drift = "baselines warming up: " + ", ".join(warming)
            else:
                drift = "drifted fallback answers: " + ", ".join(
                    f"{name} {self._variant_brief(v, t)}" for name, v in s.variants.items())
            firing = {(a.name, a.variant, a.source) for a in s.alerts if a.resolved is None}
        primary = "PRIMARY DOWN" if s.primary_down else "primary up"
        return (f"{primary} | served: {served} | fallback {share:.0%} of the last {WINDOW_S:g}s | "
                f"{drift} | alerts firing: {len(firing)}")

    def _fallback_share(self, t: float) -> float:
        recent = [m for ts, m in self.state.served_times if ts >= t - WINDOW_S]
        return sum(1 for m in recent if m == FALLBACK_MODEL) / len(recent) if recent else 0.0

    def _variant_brief(self, v: VariantState, t: float) -> str:
        fb = [c for c in v.calls if c.fallback and c.t >= t - WINDOW_S]
        if not fb:
            return "—"
        return f"{sum(1 for c in fb if c.drifted) / len(fb):.0%}"

    # terminal mode ----------------------------------------------------------------------------------------
    def frame(self, t: float, width: int, height: int) -> list[tuple[str, str]]:
        """(text, style) lines; styles are applied after fitting the text to the width."""
        s = self.state
        lines: list[tuple[str, str]] = []
        with s.lock:
            lines.append((f"llm-drift-otel demo · primary {PRIMARY_PROVIDER}/{PRIMARY_MODEL} → fallback "
                          f"{FALLBACK_PROVIDER}/{FALLBACK_MODEL}", "bold"))
            progress = min(1.0, t / self.duration)
            a, b = s.fail_window
            status = (f"PRIMARY DOWN: {PRIMARY_MODEL} answers {FAIL_STATUS} until {b:.0f}s" if s.primary_down
                      else f"primary up (it fails from {a:.0f}s to {b:.0f}s)" if t < a
                      else "primary recovered")
            lines.append((f" t={t:5.1f}s of {self.duration:.0f}s  [{_bar(progress, 24)}]  {status}",
                          "down" if s.primary_down else ""))
            lines.append(("", ""))
            lines.append((f" requests by serving model          total  last {WINDOW_S:g}s", "dim"))
            recent_served = Counter(m for ts, m in s.served_times if ts >= t - WINDOW_S)
            for model in [PRIMARY_SERVED, FALLBACK_MODEL] + sorted(set(s.served) - {PRIMARY_SERVED, FALLBACK_MODEL}):
                lines.append((f"   {model:<30}{s.served.get(model, 0):>7}{recent_served.get(model, 0):>9}", ""))
            recent_failed = sum(1 for ts, _ in s.failed_times if ts >= t - WINDOW_S)
            lines.append((f"   {'failed primary attempts':<30}{sum(s.failed.values()):>7}{recent_failed:>9}",
                          "down" if recent_failed else ""))
            share = self._fallback_share(t)
            lines.append((f" fallback share (last {WINDOW_S:g}s) {share:4.0%}  {_bar(share, 30)}",
                          "pending" if share else ""))
            lines.append(("", ""))
            lines.append((f" {'prompt variant':<16}{'expects':<11}{'baseline':<13}{'primary/fallback':<18}"
                          f"{'fallback drifted':<18}{'window test':<17}alert", "dim"))
            firing: list[tuple[str, float]] = []
            for name, v in s.variants.items():
                base = f"ready {v.baseline.samples}" if v.baseline.ready else f"warming {v.baseline.samples}/{WARMUP}"
                fb = [c for c in v.calls if c.fallback and c.t >= t - WINDOW_S]
                if fb:
                    share_d = sum(1 for c in fb if c.drifted) / len(fb)
                    scores = [c.score for c in fb if c.score is not None]
                    mean = f" ({sum(scores) / len(scores):.2f})" if scores else ""
                    drifted = f"{share_d:4.0%}{mean}"
                else:
                    drifted = "—"
                verdict = v.window_verdict
                if verdict is None or not getattr(verdict, "ready", False):
                    window = "—"
                else:
                    window = f"{'DRIFT' if verdict.drifted else 'same'} {verdict.score:.2f} n={v.window_n}"
                if v.firing_since is not None:
                    alert, style = "ALERT", "alert"
                    firing.append((name, v.firing_since))
                elif v.condition_since is not None:
                    alert, style = f"pending {t - v.condition_since:.1f}s", "pending"
                else:
                    alert, style = "ok", ""
                counts = f"{v.primary:>7} / {v.fallback:<6}"
                lines.append((f"   {name:<14}{v.variant.expects:<11}{base:<13}{counts:<18}"
                              f"{drifted:<18}{window:<17}{alert}", style))
            for name, since in firing:
                lines.append((f"   ALERT {ALERT}: variant {name}  (in-process, since {since:.1f}s)", "alert"))
            if self.prometheus_label:
                lines.append(("", ""))
                lines.append((f" Prometheus · {self.prometheus_label}", "dim"))
                shown = [(k, e) for k, e in sorted(s.prom_alerts.items()) if e["state"]]
                if s.prom_error:
                    lines.append((f"   {s.prom_error}", "pending"))
                if not shown:
                    lines.append(("   no alert pending or firing", ""))
                for (name, variant), entry in shown:
                    since = f"since {entry['fired']:.1f}s" if entry["state"] == "firing" and entry["fired"] else ""
                    if entry["state"] == "firing":
                        lines.append((f"   ALERT {name}: variant {variant}  (Prometheus: firing {since})", "alert"))
                    else:
                        lines.append((f"   pending {name}: variant {variant}", "pending"))
            lines.append(("", ""))
            lines.append((" events", "dim"))
            room = max(2, height - len(lines) - 1)
            events = s.events[-room:]
            if not events:
                lines.append(("   (none yet)", "dim"))
            for et, text, style in events:
                lines.append((f"   {_fmt_t(et)}  {text}", style))
        return lines

    def draw(self, t: float) -> None:
        size = shutil.get_terminal_size((100, 40))
        width, height = max(40, size.columns), max(12, size.lines)
        lines = self.frame(t, width, height)[: height - 1]
        out = []
        if self._lines:
            out.append(f"\x1b[{self._lines}F")  # to the first line of the previous frame
        out.append("\x1b[J")  # clear from there down
        for text, style in lines:
            fitted = text if len(text) < width else text[: width - 2] + "…"
            body = fitted.lstrip(" ")
            out.append(fitted[: len(fitted) - len(body)] + self.paint(body, style) + "\n")
        self.out.write("".join(out))
        self.out.flush()
        self._lines = len(lines)

    def begin(self) -> None:
        if self.tty:
            self.out.write("\x1b[?25l")  # hide the cursor while redrawing
            self.out.flush()

    def end(self) -> None:
        if self.tty:
            self.out.write("\x1b[?25h")
            self.out.flush()


# --- infrastructure: ports, Prometheus, telemetry ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fast_rules(text: str) -> str:
    """The shipped rules with the windows shortened for a one-minute run (see collector/prometheus/README.md)."""
    window = f"{WINDOW_S:g}s"
    text = re.sub(r"\[5m\]", f"[{window}]", text)
    text = re.sub(r"offset 5m", f"offset {window}", text)
    text = re.sub(r"\[1h\]", "[5m]", text)
    return re.sub(r"for: \d+m", f"for: {HOLD_S:g}s", text)


def find_rules(explicit: str | None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise DemoError(f"--rules {explicit}: no such file")
        return path
    here = Path(__file__).resolve()
    for candidate in (here.parent / "_data" / "llm-drift-rules.yml",  # in an installed wheel
                      here.parents[2] / "collector" / "prometheus" / "llm-drift-rules.yml",  # a checkout
                      Path.cwd() / "collector" / "prometheus" / "llm-drift-rules.yml"):
        if candidate.is_file():
            return candidate
    return None


class Prometheus:
    """A real Prometheus on 127.0.0.1 scraping the demo's metrics with the (shortened) shipped rules."""

    def __init__(self, binary: str, rules: Path, metrics_port: int, workdir: Path) -> None:
        self.binary, self.rules, self.metrics_port, self.workdir = binary, rules, metrics_port, workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "prometheus.log"
        self.version = ""

    def start(self, timeout: float = 30.0) -> None:
        try:
            out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=10)
            first = (out.stdout or out.stderr).splitlines()
            match = re.search(r"version (\S+)", first[0]) if first else None
            self.version = match.group(1) if match else ""
        except (OSError, subprocess.SubprocessError) as exc:
            raise RuntimeError(f"cannot run {self.binary} ({exc})") from None
        (self.workdir / "rules.yml").write_text(fast_rules(self.rules.read_text(encoding="utf-8")), encoding="utf-8")
        (self.workdir / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "rule_files: [rules.yml]\n"
            "scrape_configs:\n  - job_name: llm-drift-otel-demo\n    static_configs:\n"
            f"      - targets: [\"127.0.0.1:{self.metrics_port}\"]\n", encoding="utf-8")
        log = open(self.log_path, "wb")
        try:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={self.workdir / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                 "--storage.tsdb.retention.time=1h", "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.workdir)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with code {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base + "/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready after {timeout:.0f}s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][:300] if lines else "no log"

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.base + "/api/v1/alerts", timeout=2) as response:
            return json.load(response)["data"]["alerts"]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def span_feed(state: State) -> Any:
    """A SpanProcessor handing each LLM span's attributes to the view's state."""
    from opentelemetry.sdk.trace import SpanProcessor

    class SpanFeed(SpanProcessor):
        def on_end(self, span: Any) -> None:
            attributes = dict(span.attributes or {})
            if "gen_ai.operation.name" in attributes:
                state.on_span(attributes)

    return SpanFeed()


def _otlp_available() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except (ImportError, ValueError):
        return False


def _prometheus_exporter_available() -> bool:
    try:
        return (importlib.util.find_spec("opentelemetry.exporter.prometheus") is not None
                and importlib.util.find_spec("prometheus_client") is not None)
    except (ImportError, ValueError):
        return False


# --- the run -----------------------------------------------------------------------------------------------


class _Stop(Exception):
    pass


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """`llm-drift-otel demo`; returns the exit code (0 ok, 1 the alert did not fire, 2 setup error, 130 Ctrl-C)."""
    out = out or sys.stdout
    err = sys.stderr
    try:
        return _run(args, out)
    except DemoError as exc:
        err.write(f"llm-drift-otel demo: error: {exc}\n")
        return 2


def _check_setup(args: argparse.Namespace, out: TextIO) -> tuple[str | None, Path | None]:
    missing = [m for m in ("openai", "anthropic") if importlib.util.find_spec(m) is None]
    if missing:
        raise DemoError(f"the demo needs the {' and '.join(missing)} SDK{'s' if len(missing) > 1 else ''}: "
                        "pip install 'llm-drift-otel[openai,anthropic]'")
    if args.otlp_endpoint:
        if not re.match(r"^https?://[^/\s]+", args.otlp_endpoint):
            raise DemoError(f"--otlp-endpoint {args.otlp_endpoint}: expected an http(s) URL such as http://localhost:4318")
        if not _otlp_available():
            raise DemoError("--otlp-endpoint needs the OTLP/HTTP exporter: pip install opentelemetry-exporter-otlp-proto-http")
    binary: str | None = None
    if args.prometheus:
        found = shutil.which(args.prometheus)
        if not found:
            raise DemoError(f"--prometheus {args.prometheus}: not found or not executable")
        binary = found
    elif not args.no_prometheus:
        binary = shutil.which("prometheus")
        if binary is None:
            out.write(f"Prometheus: not on PATH, so the alerts are evaluated in-process only. To see them in a real "
                      f"Prometheus: {_PROMETHEUS_HINT}.\n")
    rules = None
    if binary:
        if not _prometheus_exporter_available():
            out.write("Prometheus: the demo needs opentelemetry-exporter-prometheus to expose metrics "
                      "(pip install opentelemetry-exporter-prometheus); in-process verdicts only.\n")
            binary = None
        else:
            rules = find_rules(args.rules)
            if rules is None:
                out.write("Prometheus: the rules file collector/prometheus/llm-drift-rules.yml was not found (run "
                          "from a checkout of the repository or pass --rules FILE); in-process verdicts only.\n")
                binary = None
    return binary, rules


def _run(args: argparse.Namespace, out: TextIO) -> int:
    binary, rules = _check_setup(args, out)
    out.write("llm-drift-otel demo: loading the openai and anthropic SDKs ...\n")
    out.flush()
    tty = out.isatty() and not args.plain and os.environ.get("TERM") != "dumb"
    color = tty and not os.environ.get("NO_COLOR")

    # SIGTERM and SIGHUP (the terminal closed) stop the demo like Ctrl-C: servers and Prometheus are shut down.
    stop_signals = [sig for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if sig]
    previous = {sig: signal.getsignal(sig) for sig in stop_signals}

    def on_stop_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for sig in stop_signals:
            signal.signal(sig, on_stop_signal)

    cleanup: list[tuple[str, Callable[[], None]]] = []
    stop = threading.Event()
    ctx: dict[str, Any] = {"binary": binary}  # what `_demo` has set up so far: view, state, binary
    interrupted = False
    code = 0
    try:
        code = _demo(args, out, binary, rules, tty, color, cleanup, stop, ctx)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop.set()
        old_int = signal.getsignal(signal.SIGINT)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, *stop_signals):  # a second Ctrl-C must not cut the cleanup short
                signal.signal(sig, signal.SIG_IGN)
        try:
            for _, action in reversed(cleanup):
                try:
                    action()
                except Exception:  # noqa: BLE001 - cleanup goes on whatever one step does
                    pass
        finally:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, old_int)
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            if ctx.get("view") is not None:
                ctx["view"].end()
    if interrupted:
        what = ["the mock providers"]
        if ctx.get("prometheus"):
            what.append("Prometheus")
        out.write(f"\ninterrupted: stopped {' and '.join(what)}.\n")
        state = ctx.get("state")
        if state is not None and ctx.get("view") is not None:
            out.write(_summary(state, args.duration, bool(ctx.get("prometheus")), color, interrupted=True))
        out.flush()
        return 130
    return code


def _demo(args: argparse.Namespace, out: TextIO, binary: str | None, rules: Path | None, tty: bool, color: bool,
          cleanup: list, stop: threading.Event, ctx: dict[str, Any]) -> int:
    import anthropic
    import openai
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    import llm_drift_otel as ld

    from ._mock_provider import MockProvider

    duration = float(args.duration)
    fail_from, fail_until = round(duration * FAIL_FROM, 1), round(duration * FAIL_UNTIL, 1)
    variant_list = variants()
    rng = random.Random(args.seed)

    # 1. the providers
    primary_mock = MockProvider(
        styles={}, snapshots={PRIMARY_MODEL: PRIMARY_SERVED}, seed=args.seed, fail_status=FAIL_STATUS,
        prompt_styles={v.system: {PRIMARY_MODEL: v.primary_style} for v in variant_list}, latency=(0.02, 0.07))
    fallback_mock = MockProvider(
        styles={}, snapshots={}, seed=args.seed + 1,
        prompt_styles={v.system: {FALLBACK_MODEL: v.fallback_style} for v in variant_list}, latency=(0.03, 0.09))
    primary_server = primary_mock.serve()
    cleanup.append(("primary mock", primary_server.stop))
    fallback_server = fallback_mock.serve()
    cleanup.append(("fallback mock", fallback_server.stop))
    out.write(f"mock providers on 127.0.0.1: OpenAI-compatible {PRIMARY_MODEL} at {primary_server.base_url}, "
              f"Anthropic-compatible {FALLBACK_MODEL} at {fallback_server.root_url}\n")

    # 2. telemetry: in-process providers, the span feed, Prometheus and OTLP exporters when asked
    state = ctx["state"] = State(variant_list)
    resource = Resource.create({"service.name": "llm-drift-otel-demo"})
    readers: list[Any] = []
    metrics_port = None
    if binary:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        metrics_port = free_port()
        httpd, _thread = start_http_server(metrics_port, addr="127.0.0.1")
        cleanup.append(("metrics endpoint", lambda: (httpd.shutdown(), httpd.server_close())))
        readers.append(PrometheusMetricReader())
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(span_feed(state))
    if args.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        base = args.otlp_endpoint.rstrip("/")
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=3)))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{base}/v1/metrics", timeout=3),
                                                     export_interval_millis=5000))
        _quiet_otlp_logs(out)
        out.write(f"OTLP: exporting spans and metrics to {base}/v1/traces and {base}/v1/metrics\n")
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    cleanup.append(("telemetry", lambda: _shutdown_telemetry(tracer_provider, meter_provider)))
    ld.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, warmup=WARMUP)
    cleanup.append(("instrumentation", ld.uninstrument))

    # 3. Prometheus
    prometheus = None
    prometheus_label = None
    if binary and rules is not None and metrics_port is not None:
        workdir = Path(tempfile.mkdtemp(prefix="llm-drift-demo-"))
        cleanup.append(("workdir", lambda: shutil.rmtree(workdir, ignore_errors=True)))
        prometheus = Prometheus(binary, rules, metrics_port, workdir)
        cleanup.append(("prometheus", prometheus.stop))
        ctx["prometheus"] = prometheus
        out.write(f"Prometheus: starting {binary} on 127.0.0.1:{prometheus.port} with {rules.name} "
                  f"(windows 5m -> {WINDOW_S:g}s, for -> {HOLD_S:g}s) ...\n")
        out.flush()
        began = time.monotonic()
        try:
            prometheus.start()
        except RuntimeError as exc:
            out.write(f"Prometheus: could not start ({exc}); in-process verdicts only.\n")
            prometheus.stop()
            prometheus = ctx["prometheus"] = None
            binary = None
        else:
            prometheus_label = (f"{prometheus.version + ' ' if prometheus.version else ''}{prometheus.base} · "
                                f"{rules.name}, windows {WINDOW_S:g}s, for {HOLD_S:g}s")
            out.write(f"Prometheus {prometheus.version}: ready in {time.monotonic() - began:.1f}s at {prometheus.base} "
                      "(alerts: /alerts)\n")

    # 4. clients and the app
    openai_client = openai.OpenAI(api_key="sk-local-demo", base_url=primary_server.base_url, max_retries=0, timeout=10)
    try:
        anthropic_client = anthropic.Anthropic(api_key="sk-ant-local-demo", base_url=fallback_server.root_url,
                                               max_retries=0, timeout=10, open_telemetry=False)
    except TypeError:  # an SDK without its own tracing switch
        anthropic_client = anthropic.Anthropic(api_key="sk-ant-local-demo", base_url=fallback_server.root_url,
                                               max_retries=0, timeout=10)
    cleanup.append(("clients", lambda: (openai_client.close(), anthropic_client.close())))
    app = App(openai_client, anthropic_client)

    out.write(f"running for {duration:g}s at {args.rate:g} requests/s (seed {args.seed}); the primary "
              f"{PRIMARY_MODEL} fails ({FAIL_STATUS}) from {fail_from:g}s to {fail_until:g}s. Ctrl-C stops.\n")
    if not tty:
        out.write("\n")
    out.flush()

    view = ctx["view"] = View(out, state, tty=tty, color=color, duration=duration, prometheus_label=prometheus_label)
    state.start = time.monotonic()
    state.fail_window = (fail_from, fail_until)

    # 5. the request loop (a thread) and the Prometheus poller (a thread); the view in this thread
    errors: list[BaseException] = []

    def requests_loop() -> None:
        interval = 1.0 / args.rate
        next_at = 0.0
        number = 0
        try:
            while not stop.is_set():
                t = state.now()
                if t >= duration:
                    break
                down = fail_from <= t < fail_until
                if down != state.primary_down:
                    if down:
                        primary_mock.failing.add(PRIMARY_MODEL)
                        state.event(f"primary {PRIMARY_MODEL} starts failing ({FAIL_STATUS}): requests fall back "
                                    f"to {FALLBACK_MODEL}", "down")
                    else:
                        primary_mock.failing.discard(PRIMARY_MODEL)
                        state.event(f"primary {PRIMARY_MODEL} is back", "ok")
                    state.primary_down = down
                variant = rng.choices(variant_list, weights=[v.weight for v in variant_list])[0]
                number += 1
                question = rng.choice(QUESTIONS).format(n=1000 + number)
                fallback, shape = app.handle(variant, question)
                state.on_answer(variant, fallback, shape)
                next_at += interval * rng.uniform(0.85, 1.15)
                stop.wait(max(0.0, next_at - state.now()))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def poll_prometheus() -> None:
        assert prometheus is not None
        while not stop.wait(1.0):
            try:
                state.on_prometheus(prometheus.alerts())
            except (OSError, ValueError, KeyError) as exc:
                state.on_prometheus_error(f"cannot read {prometheus.base}/api/v1/alerts ({type(exc).__name__})")

    worker = threading.Thread(target=requests_loop, name="demo-requests", daemon=True)
    cleanup.append(("request loop", lambda: worker.join(timeout=10)))
    pollers = []
    if prometheus is not None:
        poller = threading.Thread(target=poll_prometheus, name="demo-prometheus-poll", daemon=True)
        pollers.append(poller)
        cleanup.append(("prometheus poll", lambda: poller.join(timeout=5)))

    view.begin()
    state.event(f"start: {len(variant_list)} prompt variants, baselines warm up on {WARMUP} primary answers each", "")
    worker.start()
    for poller in pollers:
        poller.start()
    while True:
        t = state.now()
        state.evaluate()
        if tty:
            view.draw(t)
        else:
            view.plain_tick(t)
        if errors:
            raise errors[0]
        if not worker.is_alive() and t >= duration:
            break
        if not worker.is_alive():
            break
        time.sleep(0.25 if tty else 0.2)
    stop.set()
    if prometheus is not None:  # one last look at what Prometheus reports
        try:
            state.on_prometheus(prometheus.alerts())
        except (OSError, ValueError, KeyError):
            pass
    t = state.now()
    state.evaluate()
    if tty:
        view.draw(t)
    else:
        view.plain_tick(t, force=True)
    out.write(_summary(state, duration, prometheus is not None, color))
    out.flush()
    fired = [a for a in state.alerts if a.name == ALERT and fail_from <= a.fired]
    return 0 if fired else 1


def _quiet_otlp_logs(out: TextIO) -> None:
    """An unreachable collector: one line, not a log record per export attempt."""
    import logging

    class Once(logging.Filter):
        said = False

        def filter(self, record: logging.LogRecord) -> bool:
            if record.levelno >= logging.WARNING and not Once.said:
                Once.said = True
                message = " ".join(record.getMessage().split())
                message = message if len(message) <= 120 else message[:119] + "…"
                out.write(f"OTLP: export failed ({message}); further export errors are not shown\n")
            return False

    for name in ("opentelemetry.exporter.otlp.proto.http.trace_exporter",
                 "opentelemetry.exporter.otlp.proto.http.metric_exporter",
                 "opentelemetry.exporter.otlp.proto.http", "opentelemetry.exporter.otlp",
                 "opentelemetry.sdk.trace.export", "opentelemetry.sdk.metrics._internal.export",
                 "opentelemetry.exporter.http"):
        logging.getLogger(name).addFilter(Once())


def _shutdown_telemetry(tracer_provider: Any, meter_provider: Any) -> None:
    for provider in (tracer_provider, meter_provider):
        try:
            provider.shutdown()
        except Exception:  # noqa: BLE001
            pass


def _summary(state: State, duration: float, with_prometheus: bool, color: bool, *, interrupted: bool = False) -> str:
    def red(text: str) -> str:
        return f"{_RED}{text}{_RESET}" if color else text

    a, b = state.fail_window
    end = min(state.now(), duration)
    lines = ["", "summary"]
    if end < a:
        lines.append(f"  failover window {a:g}s – {b:g}s: not reached (stopped at {end:.1f}s)")
    else:
        lines.append(f"  failover window {a:g}s – {b:g}s: {PRIMARY_MODEL} answered {FAIL_STATUS}; "
                     f"{state.fallback_requests} of {state.requests} requests served by {FALLBACK_MODEL}")
    sources = (["Prometheus"] if with_prometheus else []) + ["in-process"]
    for source in sources:
        records = sorted((r for r in state.alerts if r.source == source), key=lambda r: (r.fired, r.name, r.variant))
        label = ("as Prometheus reported them (the shipped rules, windows shortened)" if source == "Prometheus"
                 else f"in-process (the {ALERT} condition on the last {WINDOW_S:g}s, held {HOLD_S:g}s)")
        lines.append(f"  alerts {label}:")
        if not records:
            lines.append("    none fired")
        width = max((len(f"{r.name}: variant {r.variant}") for r in records), default=0)
        for r in records:
            rel = f"+{r.fired - a:.1f}s into the failover" if r.fired >= a else f"{a - r.fired:.1f}s BEFORE the failover"
            resolved = f"resolved at {r.resolved:.1f}s" if r.resolved is not None else "still firing at the end"
            lines.append("    " + red(f"{r.name}: variant {r.variant}".ljust(width))
                         + f"  fired at {r.fired:4.1f}s ({rel}), {resolved}")
    quiet = [name for name in state.variants
             if not any(r.variant == name and r.name == ALERT for r in state.alerts)]
    for name in quiet if end >= a else ():
        v = state.variants[name].variant
        if v.primary_style == v.fallback_style:
            lines.append(f"  no {ALERT} for {name}: its fallback answers in the primary's structure ({v.expects})")
        else:
            lines.append(f"  no {ALERT} for {name}")
    early = [r for r in state.alerts if r.fired < a]
    if early:
        lines.append("  " + red(f"{len(early)} alert(s) fired before the failover: "
                                + ", ".join(f"{r.name}/{r.variant} at {r.fired:.1f}s" for r in early)))
    elif state.alerts or end >= a:
        lines.append("  none fired before the failover.")
    if not interrupted and not any(r.name == ALERT and r.fired >= a for r in state.alerts):
        lines.append(f"  {ALERT} did not fire during the failover: try a longer --duration")
    return "\n".join(lines) + "\n"
