"""`daemon run|status|stop`: the guard, lifecycle files, signals, crashes and recovery."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from scoot.testing.model_server import ScriptedModel
from tests.helpers import (
    audit_kinds,
    pid_alive,
    run_scoot,
    runs,
    start_scoot,
    stop,
    wait_for,
    worker_pids,
    write_config,
)


def state(home: Path) -> dict:
    return json.loads((home / "state" / "daemon.json").read_text())


def wait_running(home: Path, proc: subprocess.Popen[str]) -> dict:
    def running() -> dict | None:
        assert proc.poll() is None, proc.communicate()
        try:
            body = state(home)
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return body if body.get("status") == "running" and body.get("pid") == proc.pid else None

    return wait_for(running)


@pytest.fixture
def model():
    with ScriptedModel({"default": [{"final": "ok"}]}) as server:
        yield server


def test_daemon_lifecycle_files_and_clean_stop(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    proc = start_scoot(home, "daemon", "run")
    body = wait_running(home, proc)
    assert body["format"] == "scoot.supervise.daemon.state.v1"
    assert body["jobs"] == 1 and body["poll_ms"] == 100 and body["schedule_enabled"] is True
    assert body["pid_start_time"] and body["version"]
    assert (home / "state" / "daemon.pid").read_text().strip() == str(proc.pid)
    status = run_scoot(home, "daemon", "status", "--json")
    report = json.loads(status.stdout)
    assert report["verdict"] == "running" and report["alive"] and report["lock_held"]
    wait_for(lambda: runs(home))
    stopped = run_scoot(home, "daemon", "stop", "--wait")
    assert stopped.returncode == 0, stopped.stdout
    proc.communicate(timeout=10)
    assert proc.returncode == 0
    final = state(home)
    assert final["status"] == "stopped" and final["stop_reason"] == "signal:SIGTERM"
    assert final["stopped_at_unix"]
    assert not (home / "state" / "daemon.pid").exists()
    kinds = audit_kinds(home)
    assert "job_end" in kinds


def test_second_daemon_is_refused(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    first = start_scoot(home, "daemon", "run")
    wait_running(home, first)
    second = run_scoot(home, "daemon", "run")
    assert second.returncode == 1
    assert "[scoot] refusing to start: detected daemon already running" in second.stderr
    assert f"pid={first.pid}," in second.stderr
    # The start time as a date a person reads, not a raw Unix time.
    assert re.search(r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", second.stderr)
    assert "Run `scoot daemon stop` first." in second.stderr
    assert "Traceback" not in second.stderr
    assert state(home)["pid"] == first.pid  # the refused one wrote nothing
    stop(first)


def test_daemons_started_together_exactly_one_runs(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    for _ in range(5):
        procs = [start_scoot(home, "daemon", "run") for _ in range(2)]
        wait_for(lambda procs=procs: any(p.poll() is not None for p in procs))
        time.sleep(0.3)  # the winner must still be running well after the loser left
        alive = [p for p in procs if p.poll() is None]
        assert len(alive) == 1, [p.communicate() for p in procs if p.poll() is not None]
        refused = [p for p in procs if p.poll() is not None]
        assert refused[0].returncode == 1
        for proc in procs:
            stop(proc)


def test_stale_pid_is_recovered_with_warning(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    proc = start_scoot(home, "daemon", "run")
    wait_running(home, proc)
    proc.kill()
    proc.communicate()
    status = json.loads(run_scoot(home, "daemon", "status", "--json").stdout)
    assert status["verdict"] == "stale" and not status["alive"]
    again = start_scoot(home, "daemon", "run")
    wait_running(home, again)
    out, err = stop(again)
    assert "did not stop cleanly" in err


def test_stop_never_signals_a_reused_pid(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    (home / "state").mkdir(parents=True, exist_ok=True)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = psutil.Process(bystander.pid).create_time()
        fake = {
            "format": "scoot.supervise.daemon.state.v1",
            "status": "running",
            "pid": bystander.pid,
            "pid_start_time": started - 1000,  # same pid, another process
            "started_at_unix": int(time.time()) - 1000,
        }
        (home / "state" / "daemon.json").write_text(json.dumps(fake))
        (home / "state" / "daemon.pid").write_text(f"{bystander.pid}\n")
        status = json.loads(run_scoot(home, "daemon", "status", "--json").stdout)
        assert status["verdict"] == "stale" and status["alive"] is False
        done = run_scoot(home, "daemon", "stop")
        assert done.returncode == 0
        assert "nobody was signalled" in done.stdout
        time.sleep(0.2)
        assert bystander.poll() is None  # never signalled
        assert not (home / "state" / "daemon.pid").exists()
        assert state(home)["status"] == "stopped"
    finally:
        bystander.kill()
        bystander.wait()


def test_stop_without_daemon_is_harmless(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    done = run_scoot(home, "daemon", "stop")
    assert done.returncode == 0 and "no daemon running" in done.stdout
    status = run_scoot(home, "daemon", "status")
    assert "never-started" in status.stdout


def test_stop_while_a_job_runs_terminates_it_within_the_grace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "late", "delay_ms": 20000}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            schedule={"shutdown_grace_sec": 1, "kill_grace_sec": 1},
            sections={"backend": {"timeout_ms": 60000}},
            jobs=[{"id": "slow", "goal": "g", "every_sec": 3600}],
        )
        proc = start_scoot(home, "daemon", "run")
        wait_running(home, proc)
        hello_pids = wait_for(lambda: worker_pids(home))
        worker_pid = hello_pids[0]
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
        took = time.monotonic() - started
    assert proc.returncode == 0
    assert took < 20  # the graces (1 s + 1 s), far below the backend's 60 s
    assert not pid_alive(worker_pid)
    (row,) = runs(home)
    assert row["status"] == "interrupted"
    assert state(home)["status"] == "stopped"


def test_kill_9_of_a_worker_is_recorded_as_crashed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "late", "delay_ms": 20000}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            sections={"backend": {"timeout_ms": 60000}},
            jobs=[{"id": "victim", "goal": "g", "every_sec": 3600}],
        )
        proc = start_scoot(home, "daemon", "run")
        wait_running(home, proc)
        hello_pids = wait_for(lambda: worker_pids(home))
        os.kill(hello_pids[0], signal.SIGKILL)
        row = wait_for(lambda: runs(home))[0]
        assert proc.poll() is None  # the daemon carries on
        stop(proc)
    assert row["status"] == "crashed" and row["signal"] == "SIGKILL"


def test_kill_9_of_the_daemon_takes_its_workers_and_never_refires_a_one_shot(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "late", "delay_ms": 20000}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            sections={"backend": {"timeout_ms": 60000}},
            jobs=[{"id": "once", "goal": "g", "at_unix": time.time() - 1}],
        )
        proc = start_scoot(home, "daemon", "run")
        wait_running(home, proc)
        hello_pids = wait_for(lambda: worker_pids(home))
        worker_pid = hello_pids[0]
        proc.kill()
        proc.communicate()
        wait_for(lambda: not pid_alive(worker_pid), timeout=15)
        again = start_scoot(home, "daemon", "run", "--ticks", "3")
        out, err = again.communicate(timeout=20)
    assert "did not stop cleanly" in err
    rows = runs(home)
    assert [r["status"] for r in rows] == ["interrupted"]  # recorded, not replayed
    assert "job once started" not in out


def test_sighup_reloads_jobs_and_keeps_old_config_when_invalid(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(
        home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "cron": "0 0 1 1 *"}]
    )
    proc = start_scoot(home, "daemon", "run")
    wait_running(home, proc)
    write_config(
        home,
        base_url=model.base_url,
        jobs=[
            {"id": "a", "goal": "g", "cron": "0 0 1 1 *"},
            {"id": "b", "goal": "g", "every_sec": 3600},
        ],
    )
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: [r for r in runs(home) if r["job_id"] == "b"])
    (home / "config.toml").write_text("[schedule\nbroken")
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert proc.poll() is None
    out, err = stop(proc)
    assert "reload failed, keeping the previous configuration" in err
    assert "config_reload" in audit_kinds(home)


def test_sighup_applies_schedule_settings_and_names_what_needs_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "late", "delay_ms": 30000}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            schedule={"job_timeout_sec": 600},
            sections={"backend": {"timeout_ms": 60000}},
            jobs=[{"id": "a", "goal": "g", "cron": "0 0 1 1 *"}],
        )
        proc = start_scoot(home, "daemon", "run")
        wait_running(home, proc)
        write_config(
            home,
            base_url=model.base_url,
            schedule={"job_timeout_sec": 1, "poll_ms": 150},
            sections={
                "backend": {"timeout_ms": 60000},
                "metrics": {"textfile": str(tmp_path / "scoot.prom")},
            },
            jobs=[
                {"id": "a", "goal": "g", "cron": "0 0 1 1 *"},
                {"id": "slow", "goal": "g", "every_sec": 3600},
            ],
        )
        proc.send_signal(signal.SIGHUP)
        # The new timeout ends the run long before the model's reply would.
        (row,) = wait_for(lambda: runs(home), timeout=20)
        assert proc.poll() is None
        assert state(home)["poll_ms"] == 150
        out, err = stop(proc)
    assert row["job_id"] == "slow" and row["status"] == "timeout"
    lines = [json.loads(x) for x in (home / "logs" / "audit.jsonl").read_text().splitlines()]
    (reload,) = [r for r in lines if r["kind"] == "config_reload"]
    assert "schedule.job_timeout_sec" in reload["applied"]
    assert "schedule.poll_ms" in reload["applied"]
    assert reload["restart_needed"] == ["metrics.textfile"]
    assert "take effect only after a restart: metrics.textfile" in err
