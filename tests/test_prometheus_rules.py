"""The shipped Prometheus rules (collector/prometheus/) against a real rule engine: promtool.

`promtool check rules` validates the file, `promtool test rules` runs the unit tests in
collector/prometheus/tests/ (firing and non-firing cases for every SPEC alert). The Grafana
alert-rule provisioning (collector/grafana/) is run through the SAME unit tests, so the two stay
equivalent. promtool must be installed (scripts/install-prometheus.sh; CI installs it): a missing
promtool is a failure, never a skip.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from llm_drift_otel import semconv

REPO = Path(__file__).resolve().parents[1]
PROM_DIR = REPO / "collector" / "prometheus"
RULES = PROM_DIR / "llm-drift-rules.yml"
UNIT_TESTS = sorted((PROM_DIR / "tests").glob("*.test.yml"))
GRAFANA_RULES = REPO / "collector" / "grafana" / "llm-drift-alert-rules.yaml"
RUNBOOK_URL = "https://github.com/llm-drift-otel/llm-drift-otel/blob/main/docs/runbooks/{}.md"

# Series names of the default OTLP -> Prometheus translation (SPEC §2).
PROM_METRICS = {
    semconv.prometheus_name(semconv.METRIC_RESPONSES) + "_total",
    semconv.prometheus_name(semconv.METRIC_FALLBACKS) + "_total",
    *(semconv.prometheus_name(semconv.METRIC_DRIFT_SCORE) + s for s in ("_bucket", "_sum", "_count")),
    *(semconv.prometheus_name(semconv.METRIC_OPERATION_DURATION) + "_seconds" + s for s in ("_bucket", "_sum", "_count")),
    *(semconv.prometheus_name(semconv.METRIC_TOKEN_USAGE) + s for s in ("_bucket", "_sum", "_count")),
}
PROM_LABELS = {
    semconv.prometheus_name(a) for a in (*semconv.SPAN_ATTRIBUTES, *semconv.STANDARD_ATTRIBUTES)
}
OTHER_LABELS = {"le", "job", "instance", "otel_scope_name", "otel_scope_version", "prompt_variant", "severity"}
PROMQL_WORDS = {
    "sum", "by", "rate", "increase", "or", "and", "unless", "on", "offset", "max_over_time",
    "count", "histogram_quantile", "bool", "ignoring", "group_left", "group_right", "max", "min",
    "avg", "round", "clamp_min", "label_replace", "topk", "vector", "time", "sort_desc", "without",
}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not on PATH: run scripts/install-prometheus.sh "
            "(installs Debian's `prometheus` package, which ships promtool)",
            pytrace=False,
        )
    return path


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def load_rules(path: Path = RULES) -> dict:
    return yaml.safe_load(path.read_text())


def alerts(doc: dict) -> dict[str, dict]:
    out = {}
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["alert"] not in out, f"alert {rule['alert']} defined twice"
                out[rule["alert"]] = rule
    return out


def recording_rules(doc: dict) -> dict[str, dict]:
    return {r["record"]: r for g in doc["groups"] for r in g["rules"] if "record" in r}


def promql_identifiers(expr: str) -> set[str]:
    """Metric and label names an expression uses (strings, durations and numbers removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b\d+(?:\.\d+)?(?:ms|[smhdwy])?\b", " ", expr)
    return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))


# --- promtool --------------------------------------------------------------------------------

def test_promtool_version_is_reported():
    out = run_promtool("--version")
    assert out.returncode == 0, out.stderr
    assert "promtool, version" in out.stdout + out.stderr


def test_check_rules():
    out = run_promtool("check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@pytest.mark.parametrize("unit_test", UNIT_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests(unit_test: Path):
    out = run_promtool("test", "rules", unit_test.name, cwd=unit_test.parent)
    assert out.returncode == 0, out.stdout + out.stderr


def test_there_are_unit_tests():
    assert len(UNIT_TESTS) >= 4


# --- the contract ----------------------------------------------------------------------------

def test_exactly_the_spec_alerts():
    assert sorted(alerts(load_rules())) == sorted(semconv.ALERTS)


@pytest.mark.parametrize("name", semconv.ALERTS)
def test_alert_labels_and_annotations(name: str):
    rule = alerts(load_rules())[name]
    labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
    assert labels.get("severity") in {"critical", "warning", "info"}
    assert labels.get("prompt_variant") == "{{ .Labels.llm_drift_prompt_variant }}"
    for key in ("summary", "description", "runbook_url"):
        assert annotations.get(key), f"{name}: annotation {key} missing"
    assert annotations["runbook_url"] == RUNBOOK_URL.format(name)
    assert (REPO / "docs" / "runbooks" / f"{name}.md").is_file()
    assert re.fullmatch(r"\d+m", rule["for"]), "for: must read Nm (the e2e test rewrites it)"


def test_windows_are_rewritable():
    """Every range is [5m] or [1h] and every `offset` 5m, so a fast test can rewrite them."""
    text = RULES.read_text()
    ranges = set(re.findall(r"\[([^\]]+)\]", text))
    assert ranges <= {"5m", "1h"}, ranges
    assert set(re.findall(r"offset\s+(\S+)", text)) <= {"5m"}
    for group in load_rules()["groups"]:
        assert "interval" not in group, "groups run at the global evaluation_interval"


def test_names_exist_in_semconv():
    doc = load_rules()
    records = set(recording_rules(doc))
    for group in doc["groups"]:
        for rule in group["rules"]:
            for ident in promql_identifiers(rule["expr"]):
                if ident in PROMQL_WORDS or ident in records or ident in OTHER_LABELS:
                    continue
                assert ident in PROM_METRICS or ident in PROM_LABELS, (
                    f"{rule.get('alert') or rule.get('record')}: {ident!r} is neither a metric nor "
                    "a label of the default translation of llm_drift_otel.semconv"
                )


def test_recording_rule_names_follow_convention():
    for name in recording_rules(load_rules()):
        level, metric, operation = name.split(":")
        assert level and operation
        assert metric.startswith(("llm_drift_responses", "llm_drift_fallbacks", "llm_drift_shape_drift_score"))


def _unit_test_cases() -> list[dict]:
    cases = []
    for path in UNIT_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


@pytest.mark.parametrize("name", semconv.ALERTS)
def test_every_alert_has_firing_and_quiet_cases(name: str):
    cases = [c for c in _unit_test_cases() if c["alertname"] == name]
    assert any(c.get("exp_alerts") for c in cases), f"{name}: no firing case"
    assert any(not c.get("exp_alerts") for c in cases), f"{name}: no non-firing case"
    for case in cases:
        for alert in case.get("exp_alerts") or []:
            labels = alert["exp_labels"]
            # the alert's result keeps llm_drift_prompt_variant, so prompt_variant resolves
            assert labels["prompt_variant"] == labels["llm_drift_prompt_variant"] != ""
            assert labels["severity"] == alerts(load_rules())[name]["labels"]["severity"]


# --- Grafana provisioning: the same unit tests ------------------------------------------------

def grafana_as_prometheus_rules(doc: dict) -> dict:
    """Grafana rules -> a Prometheus rule file: same names, exprs, `for` and labels."""
    rules = []
    for group in doc["groups"]:
        for rule in group["rules"]:
            query = next(d for d in rule["data"] if d["refId"] == "A")
            rules.append({
                "alert": rule["title"],
                "expr": query["model"]["expr"],
                "for": rule["for"],
                "labels": rule["labels"],
            })
    return {"groups": [{"name": "grafana-equivalent", "rules": rules}]}


def test_grafana_rules_pass_the_same_unit_tests(tmp_path: Path):
    doc = yaml.safe_load(GRAFANA_RULES.read_text())
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(grafana_as_prometheus_rules(doc), sort_keys=False))
    out = run_promtool("check", "rules", str(tmp_path / "rules.yml"))
    assert out.returncode == 0, out.stdout + out.stderr
    for path in UNIT_TESTS:
        test_doc = yaml.safe_load(path.read_text())
        if not any(t.get("alert_rule_test") for t in test_doc["tests"]):
            continue  # recording-rule tests only apply to the Prometheus file
        test_doc = copy.deepcopy(test_doc)
        test_doc["rule_files"] = ["rules.yml"]
        for test in test_doc["tests"]:
            test.pop("promql_expr_test", None)
            for case in test.get("alert_rule_test", []):
                for alert in case.get("exp_alerts") or []:
                    alert.pop("exp_annotations", None)  # Grafana words its annotations itself
        target = tmp_path / path.name
        target.write_text(yaml.safe_dump(test_doc, sort_keys=False))
        out = run_promtool("test", "rules", target.name, cwd=tmp_path)
        assert out.returncode == 0, f"{path.name} against the Grafana rules:\n{out.stdout}{out.stderr}"


def test_fast_window_rewrite_still_parses(tmp_path: Path):
    """The rewrite documented in collector/prometheus/README.md (for a fast live test) stays valid."""
    fast = RULES.read_text()
    fast = re.sub(r"\[5m\]", "[20s]", fast)
    fast = re.sub(r"offset 5m", "offset 20s", fast)
    fast = re.sub(r"\[1h\]", "[5m]", fast)
    fast = re.sub(r"for: \d+m", "for: 5s", fast)
    assert "[5m]" in fast and "[20s]" in fast and "for: 5s" in fast
    (tmp_path / "fast.yml").write_text(fast)
    out = run_promtool("check", "rules", str(tmp_path / "fast.yml"))
    assert out.returncode == 0, out.stdout + out.stderr
