"""Every instant after a job first appeared in the config is run or recorded as missed.

A job that never fired keeps, in the ledger, when it was first seen; its
first instant passing while scoot is down (or stalled) is then judged like
any other: fired late under catch_up = "once", or audited as job_missed.
"""

from __future__ import annotations

import calendar
import time
from pathlib import Path

import pytest

from scoot.schedule.jobs import validate_jobs
from scoot.schedule.ledger import Ledger
from scoot.schedule.scheduler import Scheduler
from tests.helpers import audit, run_scoot, runs, write_config

NOON = calendar.timegm((2026, 3, 2, 12, 0, 30, 0, 0, 0))  # 12:00:30 UTC


def scheduler_for(tmp_path: Path, job: dict[str, object], now: float) -> Scheduler:
    jobset = validate_jobs([job])
    assert not jobset.invalid, jobset.invalid
    ledger = Ledger(tmp_path / "ledger.json", tmp_path / "ledger.lock")
    return Scheduler(jobset.jobs, ledger, now=now)


def test_a_cron_jobs_first_instant_passed_while_down_fires_late_with_catch_up_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = {"id": "daily", "goal": "g", "cron": "5 12 * * *", "catch_up": "once"}
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        first = scheduler_for(tmp_path, job, NOON)
        assert first.decide(NOON).claimed == []  # 12:05 has not come yet
        # scoot is down from 12:00:30 to 12:10:00; a new process looks again.
        later = scheduler_for(tmp_path, job, NOON + 570)
        verdicts = later.decide(NOON + 570)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert [r.instant for r in verdicts.claimed] == [NOON + 270]


def test_a_cron_jobs_first_instant_passed_while_down_is_recorded_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = {"id": "daily", "goal": "g", "cron": "5 12 * * *"}
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert scheduler_for(tmp_path, job, NOON).decide(NOON).claimed == []
        verdicts = scheduler_for(tmp_path, job, NOON + 570).decide(NOON + 570)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert verdicts.claimed == []
    missed = [details for kind, _, details in verdicts.events if kind == "job_missed"]
    assert missed == [
        {"job_id": "daily", "count": 1, "first_instant": NOON + 270, "last_instant": NOON + 270}
    ]


def test_a_bounded_one_shot_missed_while_down_is_recorded_missed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    at = time.time() + 2
    write_config(home, jobs=[{"id": "soon", "goal": "g", "at_unix": at, "max_late_sec": 1}])
    first = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert first.returncode == 0, first.stderr
    assert runs(home) == []
    while time.time() < at + 1.5:  # down through the instant and its grace
        time.sleep(0.1)
    second = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert second.returncode == 0, second.stderr
    assert runs(home) == []
    missed = [row for row in audit(home) if row["kind"] == "job_missed"]
    assert len(missed) == 1, audit(home)
    assert missed[0]["job_id"] == "soon" and missed[0]["first_instant"] == at
