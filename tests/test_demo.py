"""`scoot demo`, the README's "run it" command: self-contained, and well under a minute."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers import read_jsonl, run_scoot


def test_demo_runs_every_kind_of_job_and_says_where_to_look(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    started = time.monotonic()
    done = run_scoot(tmp_path / "unused", "demo", "--dir", str(target), timeout=60, cwd=tmp_path)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert took < 60
    rows = read_jsonl(target / "state" / "runs.jsonl")
    jobs = {row["job_id"] for row in rows}
    assert {"disk-check", "log-scan", "write-report", "cleanup"} <= jobs
    assert all(row["status"] == "ok" for row in rows)
    modes = {row["job_id"]: row["mode"] for row in rows}
    assert modes["log-scan"] == "readonly"  # guarded, coerced
    assert modes["write-report"] == "unrestricted"
    assert (target / "workspace" / "report.txt").read_text() == "all systems nominal\n"
    assert (target / "workspace" / "old" / "stale.tmp").exists()  # the denied bash did nothing
    audit = read_jsonl(target / "logs" / "audit.jsonl")
    assert any(e["kind"] == "policy_deny" and e["job_id"] == "cleanup" for e in audit)
    assert "job write-report runs unrestricted" in done.stderr
    starts = {e["job_id"]: e for e in audit if e["kind"] == "job_start"}
    assert "unrestricted" in starts["write-report"]["warning"]
    assert "warning" not in starts["disk-check"]
    assert "policy denials recorded: 1" in done.stdout
    assert "schedule history" in done.stdout and str(target) in done.stdout


def test_demo_refuses_an_existing_instance(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    target.mkdir()
    (target / "config.toml").write_text("")
    done = run_scoot(tmp_path, "demo", "--dir", str(target), cwd=tmp_path)
    assert done.returncode == 1
    assert "already has a config.toml" in done.stderr
