"""The Grafana dashboard (dashboards/): valid, provisionable, templated, and every query parses.

Parsing is done by promtool: the panel expressions (template variables replaced by what Grafana
would send) are written as recording rules into a temporary rule file and `promtool check rules`
runs on it. promtool missing is a failure: run scripts/install-prometheus.sh.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from llm_drift_otel import semconv

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "dashboards" / "llm-drift-overview.json"
PROVISIONING = REPO / "dashboards" / "provisioning" / "dashboards.yaml"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# What Grafana substitutes before a query reaches Prometheus (worst case for "All": `.*`).
SUBSTITUTIONS = {
    "$__rate_interval": "5m",
    "${__rate_interval}": "5m",
    "$__interval": "1m",
    "${__interval}": "1m",
    "$__range": "1h",
    "${__range}": "1h",
    "${variant}": ".*",
    "$variant": ".*",
    "${serving_model}": ".*",
    "$serving_model": ".*",
}

PROM_METRICS = {
    semconv.prometheus_name(semconv.METRIC_RESPONSES) + "_total",
    semconv.prometheus_name(semconv.METRIC_FALLBACKS) + "_total",
    *(semconv.prometheus_name(semconv.METRIC_DRIFT_SCORE) + s for s in ("_bucket", "_sum", "_count")),
    *(semconv.prometheus_name(semconv.METRIC_OPERATION_DURATION) + "_seconds" + s for s in ("_bucket", "_sum", "_count")),
    *(semconv.prometheus_name(semconv.METRIC_TOKEN_USAGE) + s for s in ("_bucket", "_sum", "_count")),
}
PROM_LABELS = {semconv.prometheus_name(a) for a in (*semconv.SPAN_ATTRIBUTES, *semconv.STANDARD_ATTRIBUTES)}
# Prometheus' own: the ALERTS series of the shipped rules and the labels they add.
OTHER_NAMES = {"ALERTS", "alertname", "alertstate", "prompt_variant", "severity", "le", "job", "instance"}
PROMQL_WORDS = {
    "sum", "by", "rate", "increase", "or", "and", "unless", "on", "offset", "max_over_time",
    "count", "histogram_quantile", "bool", "ignoring", "group_left", "group_right", "max", "min",
    "avg", "round", "clamp_min", "topk", "without",
}
REQUIRED_PANELS = {
    "Traffic by serving model",
    "Fallback share",
    "Fallbacks by primary and reason",
    "Shape mix: primary traffic",
    "Shape mix: fallback traffic",
    "Drifted share: primary vs fallback",
    "Drift score p90: primary vs fallback",
    "Fallback shapes unseen on primary",
    "Refusal rate by serving model",
    "Model substitutions",
    "Tuned-for mismatches",
    "Shape contract violations",
    "Variants drifting now",
}


def load() -> dict:
    return json.loads(DASHBOARD.read_text())


def all_panels(dash: dict) -> list[dict]:
    out = []
    for panel in dash["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows keep their panels inside
    return out


def query_panels(dash: dict) -> list[dict]:
    return [p for p in all_panels(dash) if p["type"] != "row"]


def expressions(dash: dict) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and every Prometheus annotation query."""
    out = []
    for panel in query_panels(dash):
        for target in panel["targets"]:
            out.append((f"{panel['title']}/{target['refId']}", target["expr"]))
    for ann in dash["annotations"]["list"]:
        if ann.get("expr"):
            out.append((f"annotation {ann['name']}", ann["expr"]))
    return out


def substitute(expr: str) -> str:
    for var, value in SUBSTITUTIONS.items():
        expr = expr.replace(var, value)
    return expr


def promql_identifiers(expr: str) -> set[str]:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b\d+(?:\.\d+)?(?:ms|[smhdwy])?\b", " ", expr)
    return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not on PATH: run scripts/install-prometheus.sh "
            "(installs Debian's `prometheus` package, which ships promtool)",
            pytrace=False,
        )
    return path


# --- structure ---------------------------------------------------------------------------------

def test_json_and_schema():
    dash = load()
    assert dash["schemaVersion"] >= 38
    assert dash["uid"] == "llm-drift-overview"
    assert dash["title"]
    ids = [p["id"] for p in all_panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_datasource_is_a_template_variable():
    variables = {v["name"]: v for v in load()["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    for name in ("variant", "serving_model"):
        var = variables[name]
        assert var["type"] == "query"
        assert var["datasource"] == DATASOURCE
        assert var["includeAll"] and var["multi"] and var["allValue"] == ".*"
    assert "llm_drift_prompt_variant" in variables["variant"]["definition"]
    assert "llm_drift_serving_model" in variables["serving_model"]["definition"]


def test_every_panel_and_target_uses_the_datasource_variable():
    dash = load()
    for panel in query_panels(dash):
        assert panel.get("datasource") == DATASOURCE, panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            assert target.get("datasource") == DATASOURCE, f"{panel['title']}/{target['refId']}"
            assert target.get("expr"), f"{panel['title']}/{target['refId']}: empty expr"
    for ann in dash["annotations"]["list"]:
        if ann.get("expr"):
            assert ann["datasource"] == DATASOURCE, ann["name"]


def test_required_panels():
    titles = {p["title"] for p in query_panels(load())}
    assert REQUIRED_PANELS <= titles, REQUIRED_PANELS - titles


def test_failover_windows_are_visible():
    dash = load()
    share = next(p for p in query_panels(dash) if p["title"] == "Fallback share")
    style = share["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
    assert "area" in style
    ann = [a for a in dash["annotations"]["list"] if a.get("expr")]
    assert any("llm_drift_fallbacks_total" in a["expr"] and a["enable"] for a in ann)


def test_panels_do_not_overlap():
    boxes = []
    for panel in all_panels(load()):
        g = panel["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, panel["title"]
        for other_title, o in boxes:
            overlap = (g["x"] < o["x"] + o["w"] and o["x"] < g["x"] + g["w"]
                       and g["y"] < o["y"] + o["h"] and o["y"] < g["y"] + g["h"])
            assert not overlap, f"{panel['title']} overlaps {other_title}"
        boxes.append((panel["title"], g))


# --- names ---------------------------------------------------------------------------------------

def test_every_name_exists_in_semconv():
    dash = load()
    texts = [(where, substitute(expr)) for where, expr in expressions(dash)]
    texts += [(v["name"], substitute(v["definition"])) for v in dash["templating"]["list"] if v.get("definition")]
    used_metrics = set()
    for where, expr in texts:
        expr = expr.replace("label_values", " ")
        for ident in promql_identifiers(expr):
            if ident in PROMQL_WORDS or ident in OTHER_NAMES:
                continue
            assert ident in PROM_METRICS or ident in PROM_LABELS, f"{where}: unknown name {ident!r}"
            if ident in PROM_METRICS:
                used_metrics.add(ident)
    assert {"llm_drift_responses_total", "llm_drift_fallbacks_total", "llm_drift_shape_drift_score_bucket"} <= used_metrics


def test_legend_labels_exist():
    for panel in query_panels(load()):
        for target in panel["targets"]:
            for label in re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", target.get("legendFormat", "")):
                assert label in PROM_LABELS or label in OTHER_NAMES, f"{panel['title']}: legend {label}"


# --- every query parses in Prometheus ------------------------------------------------------------

def test_every_expression_parses(tmp_path: Path):
    rules = []
    for i, (where, expr) in enumerate(expressions(load())):
        concrete = substitute(expr)
        assert "$" not in concrete, f"{where}: unsubstituted variable in {concrete}"
        rules.append({"record": f"dashboard:expr_{i}:check", "expr": concrete})
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sort_keys=False))
    out = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules)} rules found" in out.stdout


# --- provisioning --------------------------------------------------------------------------------

def test_provisioning_file_provider():
    doc = yaml.safe_load(PROVISIONING.read_text())
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]
    assert provider["name"]


# --- runbooks point at real panels --------------------------------------------------------------

@pytest.mark.parametrize("alert", semconv.ALERTS)
def test_runbook_confirm_section_names_existing_panels(alert: str):
    text = (REPO / "docs" / "runbooks" / f"{alert}.md").read_text()
    section = text.split("## Confirm it", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"\*\*([^*]+)\*\*", section)
    assert named, f"{alert}: the runbook names no dashboard panel"
    dash = load()
    titles = {p["title"] for p in query_panels(dash)} | {a["name"] for a in dash["annotations"]["list"]}
    for name in named:
        assert name in titles, f"{alert} runbook names panel {name!r}, not in the dashboard"
    for heading in ("## What it means", "## What to do", "## Silence safely"):
        assert heading in text, f"{alert}: missing {heading}"
