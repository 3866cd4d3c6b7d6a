"""Long-running commands say they started and what they wait for."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from scoot.schedule.jobs import InvalidJob
from scoot.supervise.progress import in_words, invalid_text, next_fire_text
from scoot.testing.model_server import ScriptedModel
from tests.helpers import run_scoot, runs, start_scoot, stop, wait_for, write_config


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.2, "now"),
        (42, "in 42 s"),
        (300, "in 5 min"),
        (303, "in 5 min 3 s"),
        (7800, "in 2 h 10 min"),
        (3 * 86400, "in 3 days"),
    ],
)
def test_waits_in_words(seconds: float, said: str) -> None:
    assert in_words(seconds) == said


def test_next_fire_and_invalid_texts() -> None:
    at = 1767225900.0  # 2026-01-01 00:05:00 UTC
    assert next_fire_text((at, "disk"), at - 299.6) == (
        "next fire: job disk at 2026-01-01 00:05:00 UTC (in 5 min)"
    )
    assert next_fire_text(None, at) == "next fire: none (no job can fire again)"
    assert invalid_text([InvalidJob(1, "a", "x")]) == "1 invalid job: a"
    assert invalid_text([InvalidJob(1, "a", "x"), InvalidJob(4, None, "y")]) == (
        "2 invalid jobs: a, #4"
    )


def test_schedule_run_with_nothing_due_says_what_it_waits_for(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "later", "goal": "g", "at_unix": time.time() + 7000}])
    proc = start_scoot(home, "schedule", "run")
    try:
        wait_for(lambda: (home / "state" / "ledger.json").exists(), timeout=20)
        time.sleep(0.5)
        assert proc.poll() is None
    finally:
        out, err = stop(proc)
    first, second = out.splitlines()[:2]
    assert first.startswith("[scoot] schedule run started (pid=")
    assert f"1 runnable job, home={home})" in first
    assert second.startswith("[scoot] next fire: job later at ")
    assert re.search(r" UTC \(in 1 h 5\d min\)$", second), second  # 7000 s, less start-up


def test_daemon_stop_wait_says_it_waits_and_keeps_saying_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"hang": True}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            schedule={"shutdown_grace_sec": 8},
            jobs=[{"id": "slow", "goal": "g", "every_sec": 3600}],
        )
        daemon = start_scoot(home, "daemon", "run")
        try:
            wait_for(lambda: model.requests, timeout=30)  # its run waits on the model
            done = run_scoot(home, "daemon", "stop", "--wait", "--timeout", "60", timeout=90)
        finally:
            stop(daemon)
    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    assert lines[0].startswith(
        f"[scoot] sent SIGTERM to daemon pid {daemon.pid}; waiting up to 60 s"
    )
    assert any(
        line.startswith(f"[scoot] still waiting for daemon pid {daemon.pid} (")
        for line in lines[1:-1]
    ), lines
    assert lines[-1] == f"[scoot] daemon pid {daemon.pid} stopped"
    assert [r["status"] for r in runs(home)] == ["interrupted"]
    assert runs(home)[0]["error"] == "stopped by daemon shutdown (SIGTERM) before it finished"


def test_a_waiting_schedule_run_repeats_its_next_fire(tmp_path: Path) -> None:
    """The minute line itself, on a real supervisor and ledger (the minute is not waited)."""
    from scoot.instance.open import open_instance
    from scoot.records.audit import AuditLog, Redactor, SessionLog
    from scoot.records.recorder import Recorder
    from scoot.records.runlog import RunLog
    from scoot.schedule.ledger import Ledger
    from scoot.schedule.scheduler import Scheduler
    from scoot.supervise.progress import WaitingLines
    from scoot.supervise.supervisor import Settings, Supervisor

    home_dir = tmp_path / "home"
    at = 1767225900.0  # 2026-01-01 00:05:00 UTC
    write_config(home_dir, jobs=[{"id": "later", "goal": "g", "at_unix": at}])
    instance = open_instance(str(home_dir))
    ledger = Ledger(instance.home.ledger, instance.home.ledger_lock)
    ledger.load()
    said: list[str] = []
    hooks = WaitingLines(said.append, clock=lambda: at - 600)
    recorder = Recorder(
        instance.home,
        AuditLog(instance.home.audit_log, Redactor()),
        SessionLog(instance.home.sessions, Redactor()),
        warn=said.append,
    )
    supervisor = Supervisor(
        home=instance.home,
        config=instance.config,
        token=None,
        recorder=recorder,
        runlog=RunLog(said.append, said.append),
        settings=Settings(),
        scheduler=Scheduler(instance.jobset.jobs, ledger, now=at - 600),
        hooks=hooks,
    )
    hooks.heartbeat(supervisor)  # the first beat comes with the start line: silent
    assert said == []
    hooks.heartbeat(supervisor)
    assert said == ["[scoot] waiting: next fire: job later at 2026-01-01 00:05:00 UTC (in 10 min)"]
    recorder.audit.close()
