"""The scheduler's next due instants, asked by job, follow its heap through every change."""

from __future__ import annotations

from pathlib import Path

from scoot.schedule.jobs import validate_jobs
from scoot.schedule.ledger import Ledger
from scoot.schedule.scheduler import Scheduler

NOW = 1_800_000_000.0


def test_dues_by_job_follow_adds_removes_and_decisions(tmp_path: Path) -> None:
    jobs = validate_jobs(
        [
            {"id": "later", "goal": "g", "at_unix": NOW + 500},
            {"id": "every", "goal": "g", "every_sec": 60},
            {"id": "past", "goal": "g", "at_unix": NOW - 10},
        ]
    ).jobs
    scheduler = Scheduler(jobs, Ledger(tmp_path / "ledger.json", tmp_path / "ledger.lock"), now=NOW)
    assert scheduler.next_due_by_job() == {"later": NOW, "every": NOW, "past": NOW}
    verdicts = scheduler.decide(NOW)
    assert sorted(r.job_id for r in verdicts.claimed if r.job_id) == ["every", "past"]
    # The one-shot that fired can never fire again: it is gone, not due at some old instant.
    assert scheduler.next_due_by_job() == {"later": NOW + 500, "every": NOW + 60}
    assert scheduler.next_due_of("every") == NOW + 60
    assert scheduler.next_due_of("past") is None
    scheduler.remove("every")
    assert scheduler.next_due_of("every") is None and "every" not in scheduler.next_due_by_job()
    scheduler.add(jobs[1], NOW + 5)
    assert scheduler.next_due_of("every") == NOW + 5
    assert scheduler.next_due() == NOW + 5
    # The clock stepped back: every live job is looked at again at the new now.
    scheduler.decide(NOW - 3600)
    assert scheduler.next_due_by_job() == {"later": NOW + 500, "every": NOW - 3600 + 60}
    unscheduled = Scheduler(jobs, Ledger(tmp_path / "l2.json", tmp_path / "l2.lock"), now=None)
    assert unscheduled.next_due_by_job() == {} and unscheduled.next_due() is None
