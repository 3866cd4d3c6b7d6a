"""Recovery of the runs a dead scoot process left in flight.

The order is what makes it safe to kill at any point, recovery included:

1. Under the ledger's lock, find the runs whose owner is gone (nothing written).
2. Kill every process still marked with one of their run ids (nothing written).
3. Finish each run's ending, completing whatever half of it is already there:
   a runs.jsonl line without its `job_end`, a `job_end` without its line, or
   neither (then the run is recorded `interrupted`). Then one commit makes
   them durable: one fsync of runs.jsonl, one of the audit log.
4. Only then drop the runs from the in-flight table (one ledger commit).

A kill before step 4 leaves the runs in flight, and the next start redoes
steps 1 to 4; step 3 never writes a second ending for a run that has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoot.records.files import tail_objects
from scoot.records.recorder import Recorder
from scoot.records.retention import generation
from scoot.records.runlog import RunLog
from scoot.schedule.ledger import InFlight, JobEntry, Ledger
from scoot.shared.spend.budget import Limits
from scoot.supervise.procs import Killed, describe_killed, is_alive, sweep_runs
from scoot.supervise.runner import Outcome, RunRequest
from scoot.supervise.spec import job_session_id

# How far back recovery looks for a run's half-written ending (a crash is recent).
LOOKBACK_BYTES = 1024 * 1024


@dataclass
class Lost:
    job_id: str
    flight: InFlight
    run_row: dict[str, Any] | None  # its runs.jsonl line, when written
    job_end: dict[str, Any] | None  # its job_end audit event, when written


def _by_run_id(rows: list[dict[str, Any]], kind: str | None = None) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        run_id = row.get("run_id")
        if isinstance(run_id, str) and (kind is None or row.get("kind") == kind):
            found.setdefault(run_id, row)
    return found


def recorded_endings(recorder: Recorder) -> tuple[dict[str, Any], dict[str, Any]]:
    """Recent runs.jsonl lines and job_end events, each by run id."""
    run_rows = _by_run_id(tail_objects(recorder.home.runs, LOOKBACK_BYTES))
    job_ends: dict[str, Any] = {}
    path = recorder.audit.path
    if path is not None:
        rows = tail_objects(generation(path, 1), LOOKBACK_BYTES) + tail_objects(
            path, LOOKBACK_BYTES
        )
        job_ends = _by_run_id(rows, "job_end")
    return run_rows, job_ends


def _request_for(lost: Lost) -> RunRequest:
    """The request a lost run's records name; it never launches again, so it runs nowhere."""
    return RunRequest(
        run_id=lost.flight.run_id,
        session_id=job_session_id(lost.job_id),
        goal="",
        mode="",
        origin="schedule",
        cwd="",
        own_workspace=False,
        limits={},
        timeout_sec=None,
        backend="default",
        budget=Limits(),
        queued_at=lost.flight.started_at,
        job_id=lost.job_id,
        instant=lost.flight.instant,
    )


def _outcome_from_job_end(event: dict[str, Any]) -> Outcome:
    def number(key: str) -> int | None:
        value = event.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return Outcome(
        str(event.get("status") or "interrupted"),
        None,  # the answer lives only in the runs.jsonl line that was never written
        "recorded from its job_end event at recovery; the answer was not recorded",
        number("exit_code"),
        event.get("signal") if isinstance(event.get("signal"), str) else None,
        number("duration_ms") or 0,
        number("peak_rss_kb"),
    )


def finish_ending(lost: Lost, recorder: Recorder, runlog: RunLog) -> None:
    """Write the missing half of the run's ending, or the whole ending as interrupted."""
    request = _request_for(lost)
    if lost.run_row is not None and lost.job_end is not None:
        return  # ended completely; only its in-flight mark was left
    if lost.run_row is not None:
        recorder.complete_job_end(request, lost.run_row)
        return
    if lost.job_end is not None:
        started = lost.flight.started_at
        recorder.write_run(recorder.record(request, started, _outcome_from_job_end(lost.job_end)))
        return
    recorder.run_never_started(
        request,
        "interrupted",
        f"its scoot process (pid {lost.flight.owner_pid}) ended before the run finished",
    )
    runlog.warn(
        f"run {lost.flight.run_id} of job {lost.job_id} was interrupted by a crash; not replayed"
    )


def _record_killed(killed: list[Killed], recorder: Recorder, runlog: RunLog) -> None:
    by_run: dict[str, list[Killed]] = {}
    for item in killed:
        by_run.setdefault(item.run_id, []).append(item)
    for run_id, items in sorted(by_run.items()):
        text = f"killed {describe_killed(items)} left behind by interrupted run {run_id}"
        recorder.event(
            "stragglers_killed",
            text,
            run_id=run_id,
            pids=[k.pid for k in items],
            names=[k.name for k in items],
            count=len(items),
        )
        runlog.warn(text)


def _dead_owners(entries: dict[str, JobEntry]) -> list[tuple[str, InFlight]]:
    return [
        (job_id, flight)
        for job_id, entry in entries.items()
        for flight in entry.in_flight.values()
        if not is_alive(flight.owner_pid, flight.owner_start)
    ]


def recover(ledger: Ledger, recorder: Recorder, runlog: RunLog) -> int:
    """Finish the runs of dead owners; returns how many. Raises OSError if the ledger fails."""
    if not _dead_owners(ledger.load()):
        return 0  # the common start: no ledger write, no fsync
    with ledger.transaction() as entries:
        lost_flights = _dead_owners(entries)
        _record_killed(sweep_runs({flight.run_id for _, flight in lost_flights}), recorder, runlog)
        run_rows, job_ends = recorded_endings(recorder)
        for job_id, flight in lost_flights:
            lost = Lost(job_id, flight, run_rows.get(flight.run_id), job_ends.get(flight.run_id))
            finish_ending(lost, recorder, runlog)
        recorder.commit()
        unwritten = recorder.unwritten_run_ids()  # a full disk: kept in flight for next time
        for job_id, flight in lost_flights:
            if flight.run_id not in unwritten:
                entries[job_id].drop_flight(flight.run_id)
    return len(lost_flights)
