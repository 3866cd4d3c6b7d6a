"""Run endings are committed in groups, and a run leaves the ledger only once committed."""

from __future__ import annotations

import time
from pathlib import Path

from scoot.instance.config import Config
from scoot.instance.home import Home
from scoot.records.audit import AuditLog, Redactor, SessionLog
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.schedule.jobs import validate_jobs
from scoot.schedule.ledger import Ledger
from scoot.schedule.scheduler import Scheduler
from scoot.supervise.releases import LedgerReleases
from scoot.supervise.requests import RequestMaker
from tests.helpers import read_jsonl


def setup(tmp_path: Path, count: int) -> tuple[Recorder, Scheduler, LedgerReleases, list]:
    home = Home(tmp_path / "home")
    home.state.mkdir(parents=True)
    home.audit_log.parent.mkdir(parents=True, exist_ok=True)
    warnings: list[str] = []
    redactor = Redactor()
    recorder = Recorder(
        home,
        AuditLog(home.audit_log, redactor),
        SessionLog(home.sessions, redactor),
        warn=warnings.append,
    )
    now = time.time()
    jobset = validate_jobs([{"id": f"j{n}", "goal": "g", "at_unix": now - 1} for n in range(count)])
    scheduler = Scheduler(jobset.jobs, Ledger(home.ledger, home.ledger_lock), now=now)
    maker = RequestMaker(home, Config(), str(tmp_path), job_timeout_sec=60)
    claimed = [maker.for_claim(claim) for claim in scheduler.decide(now).claimed]
    assert len(claimed) == count
    releases = LedgerReleases(
        scheduler=scheduler,
        recorder=recorder,
        runlog=RunLog(warnings.append, warnings.append),
        runs_path=home.runs,
        outage_dir=home.state,
        delay_sec=3600.0,
        commit_delay_sec=3600.0,
    )
    return recorder, scheduler, releases, claimed


def in_flight(scheduler: Scheduler) -> set[str]:
    entries = scheduler.ledger.load()
    return {run_id for entry in entries.values() for run_id in entry.in_flight}


def test_endings_wait_for_their_commit_before_leaving_the_ledger(tmp_path: Path) -> None:
    recorder, scheduler, releases, claimed = setup(tmp_path, 3)
    for request in claimed:
        recorder.run_never_started(request, "interrupted", "stopped before its start")
        releases.add(request)
    ids = {request.run_id for request in claimed}
    # Written at once (readers see them), not yet committed.
    assert {row["run_id"] for row in read_jsonl(recorder.home.runs)} == ids
    assert recorder.uncommitted and recorder.unwritten_run_ids() == ids
    # Neither the commit nor the release is due yet: nothing changes.
    releases.release(force=False)
    assert recorder.unwritten_run_ids() == ids
    assert in_flight(scheduler) == ids
    assert releases.due_mono is not None  # the loop wakes for the commit
    # Forced (a stop, or the commit's time has come): one commit, then the release.
    releases.release(force=True)
    assert not recorder.uncommitted and recorder.unwritten_run_ids() == set()
    assert in_flight(scheduler) == set()
    assert releases.due_mono is None
    ends = [row for row in read_jsonl(recorder.home.audit_log) if row["kind"] == "job_end"]
    assert {row["run_id"] for row in ends} == ids


def test_a_due_commit_is_made_at_the_next_call_and_the_release_waits_its_own_time(
    tmp_path: Path,
) -> None:
    recorder, scheduler, releases, claimed = setup(tmp_path, 2)
    releases.commit_delay_sec = 0.0
    for request in claimed:
        recorder.run_never_started(request, "interrupted", "stopped before its start")
        releases.add(request)
    releases.release(force=False)
    assert not recorder.uncommitted
    assert in_flight(scheduler) == {request.run_id for request in claimed}


def test_a_due_release_commits_first(tmp_path: Path) -> None:
    recorder, scheduler, releases, claimed = setup(tmp_path, 2)
    releases.delay_sec = 0.0
    for request in claimed:
        recorder.run_never_started(request, "interrupted", "stopped before its start")
        releases.add(request)
    releases.release(force=False)
    assert not recorder.uncommitted
    assert in_flight(scheduler) == set()


def test_the_commit_of_nothing_writes_nothing(tmp_path: Path) -> None:
    recorder, scheduler, releases, claimed = setup(tmp_path, 1)
    assert not recorder.uncommitted
    assert recorder.commit() is True
    releases.release(force=True)
    assert not recorder.home.runs.exists()
    assert in_flight(scheduler) == {claimed[0].run_id}  # never added: still in flight
