"""collector/: OpenTelemetry Collector configs, Grafana alert provisioning, Datadog monitors.

No collector binary is needed: the configs are checked structurally (every pipeline references
defined components, connectors bridge two pipelines, processors in a sane order) and every
`llm_drift.*` / `gen_ai.*` name they use must exist in `llm_drift_otel.semconv`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llm_drift_otel import semconv

REPO = Path(__file__).resolve().parents[1]
COLLECTOR = REPO / "collector"
CONFIGS = sorted(COLLECTOR.glob("otelcol-*.yaml"))
GRAFANA = COLLECTOR / "grafana" / "llm-drift-alert-rules.yaml"
DATADOG = COLLECTOR / "datadog" / "monitors.json"
RUNBOOK_URL = "https://github.com/llm-drift-otel/llm-drift-otel/blob/main/docs/runbooks/{}.md"

KNOWN_NAMES = set(semconv.SPAN_ATTRIBUTES) | set(semconv.STANDARD_ATTRIBUTES) | set(semconv.METRICS)
NAME_RE = re.compile(r"\b(?:llm_drift|gen_ai)\.[a-z0-9_.]*[a-z0-9_]")
KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")
SPAN_TO_METRICS = {"spanmetrics", "span_metrics", "signaltometrics", "signal_to_metrics"}
LOAD_BALANCING = {"loadbalancing", "load_balancing"}
REMOTE_WRITE = {"prometheusremotewrite", "prometheus_remote_write"}


def load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict), f"{path.name}: not a mapping"
    return doc


def ctype(component_id: str) -> str:
    """`type[/name]` -> type."""
    return component_id.split("/", 1)[0]


def strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (str(k), *strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return [str(node)] if node is not None else []


def pipelines(doc: dict) -> dict[str, dict]:
    return doc["service"]["pipelines"]


def signal(pipeline_id: str) -> str:
    return ctype(pipeline_id)


# --- every collector config ------------------------------------------------------------------

def test_there_are_agent_and_gateway_configs():
    names = {p.name for p in CONFIGS}
    assert {"otelcol-agent.yaml", "otelcol-gateway.yaml"} <= names
    assert any("snake_case" in n for n in names), "a config for the renamed (snake_case) components"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_header_states_collector_versions(path: Path):
    header = "".join(line for line in path.read_text().splitlines(keepends=True)[:15] if line.startswith("#"))
    assert "Collector versions:" in header
    assert re.search(r"v0\.\d+\.\d+", header), "name the collector release line"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_pipelines_reference_defined_components(path: Path):
    doc = load(path)
    defined = {kind: set((doc.get(kind) or {}).keys()) for kind in KINDS}
    assert pipelines(doc), "no pipelines"
    for name, pipe in pipelines(doc).items():
        assert signal(name) in {"traces", "metrics", "logs"}, name
        assert pipe.get("receivers") and pipe.get("exporters"), f"{name}: receivers and exporters required"
        for rid in pipe["receivers"]:
            assert rid in defined["receivers"] | defined["connectors"], f"{name}: receiver {rid} undefined"
        for eid in pipe["exporters"]:
            assert eid in defined["exporters"] | defined["connectors"], f"{name}: exporter {eid} undefined"
        for pid in pipe.get("processors", []):
            assert pid in defined["processors"], f"{name}: processor {pid} undefined"
    for ext in doc["service"].get("extensions", []):
        assert ext in defined["extensions"], f"extension {ext} undefined"
    # nothing defined and left unused (a typo in a pipeline would otherwise go unnoticed)
    used = {c for p in pipelines(doc).values() for key in ("receivers", "processors", "exporters") for c in p.get(key, [])}
    for kind in ("receivers", "processors", "exporters", "connectors"):
        assert defined[kind] <= used, f"{kind} defined but unused: {defined[kind] - used}"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_connectors_bridge_two_pipelines(path: Path):
    doc = load(path)
    for connector in (doc.get("connectors") or {}):
        as_exporter = [n for n, p in pipelines(doc).items() if connector in p["exporters"]]
        as_receiver = [n for n, p in pipelines(doc).items() if connector in p["receivers"]]
        assert as_exporter and as_receiver, f"connector {connector} must be exporter in one pipeline and receiver in another"
        if ctype(connector) in SPAN_TO_METRICS:
            assert all(signal(n) == "traces" for n in as_exporter)
            assert all(signal(n) == "metrics" for n in as_receiver)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_memory_limiter_first_and_batch(path: Path):
    doc = load(path)
    connectors = set(doc.get("connectors") or {})
    for name, pipe in pipelines(doc).items():
        processors = pipe.get("processors", [])
        assert processors and ctype(processors[0]) == "memory_limiter", f"{name}: memory_limiter must come first"
        if set(pipe["exporters"]) - connectors:  # leaves the collector: batch it
            assert "batch" in map(ctype, processors), f"{name}: no batch processor"
            assert ctype(processors[-1]) == "batch", f"{name}: batch must come last"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_names_exist_in_semconv(path: Path):
    for text in strings(load(path)):
        for name in NAME_RE.findall(text):
            assert name in KNOWN_NAMES, f"{path.name}: {name!r} is not in llm_drift_otel.semconv"


@pytest.mark.parametrize("path", [p for p in CONFIGS if "agent" in p.name], ids=lambda p: p.name)
def test_agent_routes_by_service_to_the_gateway(path: Path):
    doc = load(path)
    (lb_id,) = [e for e in doc["exporters"] if ctype(e) in LOAD_BALANCING]
    lb = doc["exporters"][lb_id]
    assert lb["routing_key"] == "service"
    assert "otlp" in lb["protocol"]
    assert lb["resolver"]
    signals = {signal(n) for n, p in pipelines(doc).items() if lb_id in p["exporters"]}
    assert {"traces", "metrics"} <= signals


@pytest.mark.parametrize("path", [p for p in CONFIGS if "gateway" in p.name], ids=lambda p: p.name)
def test_gateway_exports_to_prometheus_both_ways(path: Path):
    doc = load(path)
    metric_exporters = {ctype(e) for n, p in pipelines(doc).items() if signal(n) == "metrics" for e in p["exporters"]}
    assert "prometheus" in metric_exporters
    assert metric_exporters & REMOTE_WRITE
    otlp_metrics = [p for n, p in pipelines(doc).items() if signal(n) == "metrics" and "otlp" in p["receivers"]]
    assert otlp_metrics, "a metrics pipeline from OTLP"


@pytest.mark.parametrize("path", [p for p in CONFIGS if "gateway" in p.name], ids=lambda p: p.name)
def test_span_to_metrics_dimensions_are_the_metric_attributes(path: Path):
    doc = load(path)
    connectors = doc["connectors"]
    (cid,) = [c for c in connectors if ctype(c) in SPAN_TO_METRICS]
    cfg = connectors[cid]
    if ctype(cid) in {"spanmetrics", "span_metrics"}:
        dims = [d["name"] for d in cfg["dimensions"]]
        assert dims == list(semconv.RESPONSES_ATTRIBUTES)
        # the calls metric is renamed to llm_drift.responses downstream
        text = json.dumps(doc["processors"])
        assert f'\\"{semconv.METRIC_RESPONSES}\\"' in text
    else:
        metrics = {m["name"]: m for m in cfg["spans"]}
        assert [a["key"] for a in metrics[semconv.METRIC_RESPONSES]["attributes"]] == list(semconv.RESPONSES_ATTRIBUTES)
        score = metrics[semconv.METRIC_DRIFT_SCORE]
        assert [a["key"] for a in score["attributes"]] == list(semconv.DRIFT_SCORE_ATTRIBUTES)
        assert tuple(score["histogram"]["buckets"]) == semconv.DRIFT_SCORE_BUCKETS


# --- README -------------------------------------------------------------------------------------

def test_readme_draws_both_topologies():
    text = (COLLECTOR / "README.md").read_text()
    assert "topology: one host" in text.lower() and "topology: many hosts" in text.lower()
    assert text.count("```") >= 4, "ASCII drawings in code blocks"
    for path in CONFIGS:
        assert path.name in text


# --- Grafana alert-rule provisioning ------------------------------------------------------------

def grafana_rules() -> list[dict]:
    doc = load(GRAFANA)
    assert doc["apiVersion"] == 1
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_grafana_has_every_spec_alert_once():
    titles = [r["title"] for r in grafana_rules()]
    assert sorted(titles) == sorted(semconv.ALERTS)
    uids = [r["uid"] for r in grafana_rules()]
    assert len(set(uids)) == len(uids) and all(len(u) <= 40 for u in uids)


@pytest.mark.parametrize("rule", grafana_rules(), ids=lambda r: r["title"])
def test_grafana_rule_structure(rule: dict):
    ref_ids = {d["refId"] for d in rule["data"]}
    assert rule["condition"] in ref_ids
    query = next(d for d in rule["data"] if d["refId"] == "A")
    assert query["datasourceUid"] == "${LLM_DRIFT_PROMETHEUS_DS_UID}"
    assert query["model"]["expr"].strip() and query["model"]["instant"] is True
    for d in rule["data"]:
        if d["datasourceUid"] == "__expr__":
            assert d["model"]["expression"] in ref_ids
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert rule["noDataState"] in {"OK", "NoData", "Alerting"} and rule["execErrState"] in {"Error", "Alerting", "OK"}
    labels, annotations = rule["labels"], rule["annotations"]
    assert labels["severity"] in {"critical", "warning"}
    assert labels["prompt_variant"] == "{{ .Labels.llm_drift_prompt_variant }}"
    # labels are env-interpolated by Grafana's provisioning: a `$` would be eaten
    assert "$" not in json.dumps(labels)
    assert "$" not in query["model"]["expr"]
    assert annotations["summary"] and annotations["description"]
    assert annotations["runbook_url"] == RUNBOOK_URL.format(rule["title"])
    for name in NAME_RE.findall(json.dumps(rule)):
        assert name in KNOWN_NAMES


def test_grafana_matches_prometheus_severity_and_for():
    prom = {r["alert"]: r for g in load(COLLECTOR / "prometheus" / "llm-drift-rules.yml")["groups"] for r in g["rules"] if "alert" in r}
    for rule in grafana_rules():
        assert rule["labels"]["severity"] == prom[rule["title"]]["labels"]["severity"]
        assert rule["for"] == prom[rule["title"]]["for"]


# --- Datadog monitors -----------------------------------------------------------------------------

DD_QUERY_RE = re.compile(r"(?:sum|avg|max|min):([a-z_.]+)\{([^}]*)\}(?: by \{([^}]*)\})?")


def datadog_monitors() -> list[dict]:
    return json.loads(DATADOG.read_text())["monitors"]


def test_datadog_has_every_spec_alert():
    by_key = {m["key"]: m for m in datadog_monitors()}
    for alert in semconv.ALERTS:
        monitor = by_key[alert]
        assert monitor["name"].startswith(alert)
        assert f"alertname:{alert}" in monitor["tags"]
        assert RUNBOOK_URL.format(alert) in monitor["message"]
    keys = [m["key"] for m in datadog_monitors()]
    assert len(keys) == len(set(keys))


def test_datadog_fallback_and_drift_is_a_composite():
    by_key = {m["key"]: m for m in datadog_monitors()}
    composite = by_key["LLMFallbackStructuralDrift"]
    assert composite["type"] == "composite"
    parts = re.findall(r"\$\{monitor_id:([A-Za-z0-9_]+)\}", composite["query"])
    queries = " ".join(by_key[p]["query"] for p in parts)
    assert "llm_drift.fallback.active:true" in queries and "llm_drift.shape.drifted:true" in queries
    assert re.fullmatch(r"(\$\{monitor_id:\w+\}\s*&&\s*)+\$\{monitor_id:\w+\}", composite["query"])


@pytest.mark.parametrize("monitor", datadog_monitors(), ids=lambda m: m["key"])
def test_datadog_monitor_structure(monitor: dict):
    keys = {m["key"] for m in datadog_monitors()}
    assert monitor["type"] in {"query alert", "composite"}
    assert monitor["name"] and monitor["message"] and 1 <= monitor["priority"] <= 5
    assert "managed-by:llm-drift-otel" in monitor["tags"]
    if monitor["type"] == "composite":
        for ref in re.findall(r"\$\{monitor_id:([A-Za-z0-9_]+)\}", monitor["query"]):
            assert ref in keys and ref != monitor["key"]
        return
    query = monitor["query"]
    match = re.fullmatch(r"(sum|avg|max|min)\(last_(\d+[mh])\):(.+) (>=|<=|>|<) (-?[\d.]+)", query)
    assert match, query
    assert float(match.group(5)) == float(monitor["options"]["thresholds"]["critical"])
    groups = set()
    for metric, filters, by in DD_QUERY_RE.findall(query):
        assert metric in semconv.METRICS, metric
        for term in re.split(r",| OR | AND ", filters):
            term = term.strip().lstrip("!")
            if term and term != "*":
                assert term.split(":", 1)[0] in KNOWN_NAMES, term
        groups.add(by)
        for tag in filter(None, by.split(",")):
            assert tag in KNOWN_NAMES, tag
    assert len(groups) == 1, "every sub-query of a formula groups by the same tags"
    assert semconv.PROMPT_VARIANT in groups.pop().split(",")


def test_datadog_apply_dry_run_resolves_composites():
    out = subprocess.run([sys.executable, str(COLLECTOR / "datadog" / "apply.py"), "--dry-run"],
                         capture_output=True, text=True, timeout=60, check=True)
    bodies = json.loads(out.stdout)
    assert len(bodies) == len(datadog_monitors())
    assert all("key" not in b for b in bodies)
    for body in bodies:
        assert "${" not in body["query"]
        if body["type"] == "composite":
            assert re.fullmatch(r"(\d+ && )+\d+", body["query"])
