"""`daemon status`: runs in progress, queue, next fires, last outcomes, and LSB exit codes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from scoot.testing.model_server import ScriptedModel
from tests.helpers import run_scoot, runs, start_scoot, stop, wait_for, write_config


@pytest.fixture
def model():
    with ScriptedModel(
        {
            "rules": [{"match": "slow", "steps": [{"final": "slow done", "delay_ms": 4000}]}],
            "default": [{"final": "ok"}],
        }
    ) as server:
        yield server


def status(home: Path) -> tuple[int, dict]:
    done = run_scoot(home, "daemon", "status", "--json")
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)


def test_never_started_exits_3(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    done = run_scoot(home, "daemon", "status")
    assert done.returncode == 3 and "never-started" in done.stdout
    code, report = status(home)
    assert code == 3 and report["exit_code"] == 3 and report["verdict"] == "never-started"


def test_running_daemon_shows_runs_queue_next_fires_then_stopped_exits_3(
    tmp_path: Path, model
) -> None:
    home = tmp_path / "home"
    write_config(
        home,
        base_url=model.base_url,
        schedule={"max_concurrent": 1},
        jobs=[
            {"id": "slow", "goal": "slow", "every_sec": 3600},
            {"id": "waiter", "goal": "slow too", "every_sec": 3600},
        ],
    )
    proc = start_scoot(home, "daemon", "run")
    try:

        def busy() -> dict | None:
            code, report = status(home)
            return report if code == 0 and report["runs"] and report["queue"] else None

        report = wait_for(busy, timeout=20)
        assert report["verdict"] == "running"
        (run,) = report["runs"]
        (waiting,) = report["queue"]
        assert {run["job_id"], waiting["job_id"]} == {"slow", "waiter"}
        assert run["mode"] == "readonly" and run["run_id"].startswith("r")
        assert set(report["next_fires"]) == {"slow", "waiter"}
        assert all(due > time.time() + 3000 for due in report["next_fires"].values())

        text = run_scoot(home, "daemon", "status")
        assert text.returncode == 0
        assert "runs in progress: 1" in text.stdout and "queued: 1" in text.stdout
        assert f"{run['run_id']}  mode=readonly  age=" in text.stdout
        assert "next fires:" in text.stdout

        # Both finish; their outcomes show, nothing is left in progress.
        wait_for(lambda: len(runs(home)) == 2, timeout=30)
        after = wait_for(lambda: (r := status(home)[1]) and not r["runs"] and r, timeout=10)
        assert after["queue"] == []
        assert {job: row["status"] for job, row in after["last_outcomes"].items()} == {
            "slow": "ok",
            "waiter": "ok",
        }
    finally:
        stop(proc)
    code, report = status(home)
    assert code == 3 and report["verdict"] == "stopped"
    assert report["runs"] == [] and report["next_fires"] == {}
    assert set(report["last_outcomes"]) == {"slow", "waiter"}  # still shown, from the records


def test_a_dead_daemon_that_state_calls_running_exits_1(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    proc = start_scoot(home, "daemon", "run")
    wait_for(lambda: status(home)[0] == 0, timeout=20)
    proc.kill()
    proc.communicate()
    code, report = status(home)
    assert code == 1 and report["verdict"] == "stale"
    done = run_scoot(home, "daemon", "status")
    assert done.returncode == 1 and "the recorded daemon is gone" in done.stdout


def test_unreadable_state_exits_4(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    (home / "state").mkdir(exist_ok=True)
    (home / "state" / "daemon.json").write_text("{not json")
    code, report = status(home)
    assert code == 4 and report["verdict"] == "unknown"
    assert "corrupt" in report["state_problem"]
