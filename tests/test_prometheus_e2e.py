"""End to end: a real Prometheus with the shipped rules scrapes real instrumented processes.

One process's fallback answers in another structure (markdown instead of the JSON card): both
`LLMFallbackStructuralDrift` and `LLMFallbackShapeUnseenOnPrimary` must fire for its variant. A
control process, scraped by the same Prometheus, falls back to a model that answers in the primary's
structure: neither alert may fire (or even be pending) for its variant. Windows are shortened with the
rewrite documented in collector/prometheus/README.md; the test is bounded in time and kills what it starts.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "collector" / "prometheus" / "llm-drift-rules.yml"
DASHBOARD = REPO / "dashboards" / "llm-drift-overview.json"
ALERTS = ("LLMFallbackStructuralDrift", "LLMFallbackShapeUnseenOnPrimary")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fast_rules(text: str) -> str:
    text = re.sub(r"\[5m\]", "[15s]", text)
    text = re.sub(r"offset 5m", "offset 15s", text)
    text = re.sub(r"\[1h\]", "[5m]", text)
    return re.sub(r"for: \d+m", "for: 3s", text)


def api(base: str, path: str, **params: str) -> dict:
    url = f"{base}{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@pytest.fixture
def stack(tmp_path):
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus not on PATH: run scripts/install-prometheus.sh (CI does)"
    drift_port, control_port, prom_port = free_port(), free_port(), free_port()
    (tmp_path / "rules.yml").write_text(fast_rules(RULES.read_text()))
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["127.0.0.1:{drift_port}", "127.0.0.1:{control_port}"]
""")
    procs = []
    try:
        for port, variant, style in ((drift_port, "card-drift", "markdown_bullets"),
                                     (control_port, "card-control", "json_card")):
            procs.append(subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("prometheus_e2e_app.py")),
                 "--metrics-port", str(port), "--variant", variant, "--fallback-style", style,
                 "--primary-seconds", "20", "--duration", "150"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        procs.append(subprocess.Popen(
            [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        base = f"http://127.0.0.1:{prom_port}"
        wait_until(lambda: urllib.request.urlopen(base + "/-/ready", timeout=2).status == 200, 60, "prometheus ready")
        yield base
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(timeout=30)


def alerts_for(base: str, variant: str) -> dict[str, str]:
    states = {}
    for alert in api(base, "/api/v1/alerts")["data"]["alerts"]:
        if alert["labels"].get("llm_drift_prompt_variant") == variant or alert["labels"].get("prompt_variant") == variant:
            name = alert["labels"]["alertname"]
            if states.get(name) != "firing":
                states[name] = alert["state"]
    return states


def test_alerts_fire_on_structural_drift_and_not_on_same_shape_fallback(stack):
    base = stack
    wait_until(lambda: api(base, "/api/v1/query", query='sum(llm_drift_responses_total{llm_drift_fallback_active="false"})')
               ["data"]["result"], 60, "primary series scraped")
    started = time.monotonic()
    firing = wait_until(
        lambda: (lambda s: s if all(s.get(a) == "firing" for a in ALERTS) else None)(alerts_for(base, "card-drift")),
        120, f"{ALERTS} firing for card-drift")
    print(f"\nboth alerts firing {time.monotonic() - started:.0f}s after the first scrape: {firing}")

    # the control variant has been in failover just as long, with fallback answers in the primary's shape
    fallback_flowing = api(base, "/api/v1/query",
                           query='sum(llm_drift_responses_total{llm_drift_prompt_variant="card-control",'
                                 'llm_drift_fallback_active="true"})')["data"]["result"]
    assert fallback_flowing and float(fallback_flowing[0]["value"][1]) > 20
    time.sleep(8)  # longer than the shortened `for:` — anything about to fire would be pending now
    control = alerts_for(base, "card-control")
    assert not any(name in control for name in ALERTS), control

    # every dashboard panel expression parses (and evaluates) in this real Prometheus
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = []
    for panel in dashboard["panels"]:
        for sub in [panel, *panel.get("panels", [])]:
            exprs += [t["expr"] for t in sub.get("targets", []) if t.get("expr")]
    exprs += [a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if a.get("expr")]
    assert len(exprs) >= 10
    for expr in exprs:
        concrete = (expr.replace("$__rate_interval", "15s").replace("$__interval", "15s")
                    .replace("$__range", "5m").replace("${variant:regex}", ".*").replace("${serving_model:regex}", ".*")
                    .replace("$variant", ".*").replace("$serving_model", ".*"))
        result = api(base, "/api/v1/query", query=concrete)
        assert result["status"] == "success", (expr, result)
