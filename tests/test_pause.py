"""Pause and resume: state under state/, honoured without a reload, kept across restarts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from scoot.schedule.pauses import Pause, PauseStore
from scoot.testing.model_server import ScriptedModel
from tests.helpers import audit, run_scoot, runs, start_scoot, stop, wait_for, write_config


@pytest.fixture
def model():
    with ScriptedModel({"default": [{"final": "fine"}]}) as server:
        yield server


def _skips(home: Path) -> list[dict]:
    return [e for e in audit(home) if e["kind"] == "job_skipped" and e.get("reason") == "paused"]


def test_pause_list_ticks_and_resume_across_restarts(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "tick", "goal": "g", "every_sec": 1}])
    paused = run_scoot(home, "schedule", "pause", "tick", "--reason", "disk maintenance")
    assert paused.returncode == 0, paused.stderr
    assert "job tick paused" in paused.stdout
    state = json.loads((home / "state" / "pauses.json").read_text())
    assert state["paused"]["tick"]["reason"] == "disk maintenance"
    listing = run_scoot(home, "schedule", "list")
    assert "PAUSED   tick" in listing.stdout
    assert "paused: disk maintenance (until resumed by hand)" in listing.stdout
    as_json = json.loads(run_scoot(home, "schedule", "list", "--json").stdout)["jobs"][0]
    assert as_json["paused"] is True and as_json["paused_reason"] == "disk maintenance"
    # Two separate processes (a restart between them): nothing runs, each instant skipped once.
    for _ in range(2):
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
        assert done.returncode == 0, done.stderr
        time.sleep(1.1)
    assert runs(home) == []
    skips = _skips(home)
    assert len(skips) == 2
    assert len({s["instant"] for s in skips}) == 2  # never the same instant twice
    assert not [e for e in audit(home) if e["kind"] == "job_missed"]
    resumed = run_scoot(home, "schedule", "resume", "tick")
    assert resumed.returncode == 0 and "job tick resumed" in resumed.stdout
    done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    assert [r["job_id"] for r in runs(home)] == ["tick"]
    assert "ACTIVE   tick" in run_scoot(home, "schedule", "list").stdout


def test_pause_until_ends_by_itself(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "tick", "goal": "g", "every_sec": 1}])
    past = run_scoot(home, "schedule", "pause", "tick", "--until", "2001-01-01T00:00:00Z")
    assert past.returncode == 2 and "already past" in past.stderr
    until = time.time() + 8  # room for two scoot start-ups on a loaded machine
    done = run_scoot(home, "schedule", "pause", "tick", "--until", f"{until:.3f}")
    assert done.returncode == 0, done.stderr
    assert "until 20" in done.stdout
    assert run_scoot(home, "schedule", "run", "--ticks", "1").returncode == 0
    assert time.time() < until, "the machine was too slow to check the pause in time"
    assert runs(home) == [] and len(_skips(home)) == 1
    wait_for(lambda: time.time() > until + 0.2, timeout=20)
    assert run_scoot(home, "schedule", "run", "--ticks", "1").returncode == 0
    assert [r["job_id"] for r in runs(home)] == ["tick"]


def test_unknown_job_cannot_be_paused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "tick", "goal": "g", "every_sec": 1}])
    done = run_scoot(home, "schedule", "pause", "tock")
    assert done.returncode == 2 and "no valid job 'tock'" in done.stderr
    assert not (home / "state" / "pauses.json").exists()


def test_running_daemon_honours_pause_and_resume_without_reload(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "tick", "goal": "g", "every_sec": 1}])
    proc = start_scoot(home, "schedule", "run")
    try:
        wait_for(lambda: len(runs(home)) >= 1, timeout=20)
        assert run_scoot(home, "schedule", "pause", "tick").returncode == 0
        wait_for(lambda: len(_skips(home)) >= 2, timeout=20)
        kinds = [e["kind"] for e in audit(home)]
        first_skip = next(i for i, e in enumerate(audit(home)) if e in _skips(home))
        # After the first skipped instant, no run of the job starts while it is paused.
        starts_after = [k for k in kinds[first_skip:] if k == "job_start"]
        assert starts_after == []
        assert run_scoot(home, "schedule", "resume", "tick").returncode == 0
        before = len(runs(home))
        wait_for(lambda: len(runs(home)) > before, timeout=20)
        assert "config_reload" not in kinds
    finally:
        stop(proc)


def test_auto_pause_after_consecutive_failures(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"status": 500}]}) as failing:
        write_config(
            home,
            base_url=failing.base_url,
            jobs=[{"id": "flaky", "goal": "g", "every_sec": 1, "pause_after_failures": 2}],
        )
        proc = start_scoot(home, "schedule", "run")
        try:
            wait_for(lambda: any(e["kind"] == "job_paused" for e in audit(home)), timeout=30)
            wait_for(lambda: len(_skips(home)) >= 1, timeout=20)
        finally:
            stop(proc)
    (event,) = [e for e in audit(home) if e["kind"] == "job_paused"]
    assert event["job_id"] == "flaky" and event["failures"] == 2 and event["reason"] == "failures"
    statuses = [r["status"] for r in runs(home)]
    assert statuses[:2] == ["error", "error"]
    assert len(statuses) <= 3  # at most the run already claimed when the pause was written
    pause = PauseStore(home / "state" / "pauses.json", home / "state" / "pauses.lock").read()
    assert pause["flaky"].by == "failures"
    listing = run_scoot(home, "schedule", "list").stdout
    assert "PAUSED   flaky" in listing and "2 consecutive failures" in listing


def test_success_resets_the_failure_count(tmp_path: Path) -> None:
    store = PauseStore(tmp_path / "pauses.json", tmp_path / "pauses.lock")
    assert store.count_outcome("a", False) == 1
    assert store.count_outcome("a", False) == 2
    assert store.count_outcome("a", True) == 0
    assert store.count_outcome("a", False) == 1
    store.pause("a", Pause(reason="x", since=1.0, until=5.0))
    fresh = PauseStore(tmp_path / "pauses.json", tmp_path / "pauses.lock").read()
    assert fresh["a"].active(4.9) and not fresh["a"].active(5.0)
    # A damaged file counts as no pause, with a warning, never a crash.
    (tmp_path / "pauses.json").write_text("{not json")
    broken = PauseStore(tmp_path / "pauses.json", tmp_path / "pauses.lock")
    assert broken.read() == {} and broken.problem and "unreadable" in broken.problem
