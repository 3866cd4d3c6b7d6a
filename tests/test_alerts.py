"""The shipped alert rules and dashboard: promtool checks them, and they name real families."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from scoot.observe.families import LiveView
from scoot.observe.metrics import MetricsState, render

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "scoot-alerts.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "scoot-alerts.test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "scoot-dashboard.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian: apt-get install prometheus; .ci/run installs it)",
)
SCOOT_NAME = re.compile(r"\bscoot_[a-z_]+")


def exposed_sample_names(tmp_path: Path) -> set[str]:
    """Every sample name scoot exposes, from one render with a run of each kind recorded."""
    runs = tmp_path / "runs.jsonl"
    record = {"job_id": "a", "status": "ok", "origin": "schedule", "instant": 10.0}
    record |= {"started_at": 10.5, "ended_at": 12.0, "duration_ms": 1500, "exit_code": 0}
    record |= {"tokens": {"input": 5, "output": 7}}
    runs.write_text(json.dumps(record) + "\n")
    view = LiveView({"a": "active"}, {"a": 99.0}, {"a": 60.0}, 0, 0, 0, 1.0)
    state = MetricsState(runs, lambda: view)
    state.on_event("job_missed", {"job_id": "a", "count": 2})
    state.on_event("job_skipped", {"job_id": "a"})
    state.on_audit("notify_sent", {"target": "webhook", "notify_kind": "notify"})
    names = set()
    for family in text_string_to_metric_families(render(state).decode()):
        names |= {sample.name for sample in family.samples}
    return names


def test_the_families_the_issue_names_are_all_exposed(tmp_path: Path) -> None:
    names = exposed_sample_names(tmp_path)
    for name in (
        "scoot_up",
        "scoot_build_info",
        "scoot_jobs",
        "scoot_runs_total",
        "scoot_run_duration_seconds_bucket",
        "scoot_fire_lateness_seconds_bucket",
        "scoot_runs_in_flight",
        "scoot_runs_queued",
        "scoot_last_run_timestamp_seconds",
        "scoot_last_success_timestamp_seconds",
        "scoot_next_fire_timestamp_seconds",
        "scoot_missed_total",
        "scoot_tokens_total",
        "scoot_notify_total",
        "scoot_record_write_errors_total",
    ):
        assert name in names, name


def test_rules_and_dashboard_query_only_exposed_families(tmp_path: Path) -> None:
    names = exposed_sample_names(tmp_path)
    rules = yaml.safe_load(RULES.read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    used = {name for expr in exprs for name in SCOOT_NAME.findall(expr)}
    assert used and used <= names, used - names


def test_every_alert_has_a_rule_test_that_fires_it_and_one_that_does_not() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {c["alertname"] for t in cases for c in t["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["alertname"] for t in cases for c in t["alert_rule_test"] if not c["exp_alerts"]}
    assert alerts == fired == quiet


@needs_promtool
def test_promtool_check_rules() -> None:
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


@needs_promtool
def test_promtool_rule_unit_tests_pass() -> None:
    done = subprocess.run(
        [PROMTOOL, "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=RULE_TESTS.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@needs_promtool
def test_promtool_rule_tests_fail_when_an_alert_cannot_fire(tmp_path: Path) -> None:
    """The rule tests can fail: with a threshold no series reaches, they do."""
    broken = RULES.read_text().replace("scoot_runs_queued > 0", "scoot_runs_queued > 1000")
    (tmp_path / RULES.name).write_text(broken)
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    done = subprocess.run(
        [PROMTOOL, "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "ScootRunsQueuedLong" in done.stdout + done.stderr


@needs_promtool
def test_the_exposition_passes_promtool_check_metrics(tmp_path: Path) -> None:
    runs = tmp_path / "runs.jsonl"
    runs.write_text('{"job_id": "a", "status": "ok", "duration_ms": 10, "exit_code": 0}\n')
    text = render(MetricsState(runs))
    done = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_is_an_importable_grafana_document() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] == "scoot"
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "instance", "job"}
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert 'instance=~"$instance"' in target["expr"], target["expr"]
