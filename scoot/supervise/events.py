"""Run events and their fan-out: each subscriber hears every event, in subscription order.

The loop publishes; the records, the human run log, the pause counter and the
run observers (metrics, daemon.json, `Supervisor.observe`) subscribe, so a new
subscriber touches no loop code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.schedule.pauses import Pause
from scoot.schedule.scheduler import Scheduler
from scoot.shared.value_class import value_class
from scoot.supervise.runner import ActiveRun, Outcome, RunRequest

# A run event observer: (kind, fields). Kinds: job_start, job_end, job_queued,
# job_skipped, job_missed, job_paused, tick (a poll), stopped (the loop ended).
RunObserver = Callable[[str, dict[str, Any]], None]


@value_class
class RunStarting:
    """Recorded before the fork, so a crash right after it leaves a trace."""

    request: RunRequest


@value_class
class RunLaunched:
    request: RunRequest
    started_at: float  # wall clock, when the worker was forked


@value_class
class RunEnded:
    request: RunRequest
    outcome: Outcome
    run: ActiveRun | None  # None: it never got a worker
    record: dict[str, Any] | None = None  # its runs.jsonl line, built once for every subscriber


RunEvent = RunStarting | RunLaunched | RunEnded
RunSubscriber = Callable[[RunEvent], None]


class RunEvents:
    def __init__(self) -> None:
        self.subscribers: list[RunSubscriber] = []

    def subscribe(self, subscriber: RunSubscriber) -> None:
        self.subscribers.append(subscriber)

    def publish(self, event: RunEvent) -> None:
        for subscriber in self.subscribers:
            subscriber(event)


def record_to(recorder: Recorder) -> RunSubscriber:
    def record(event: RunEvent) -> None:
        if isinstance(event, RunStarting):
            recorder.run_started(event.request)
        elif isinstance(event, RunEnded):
            if event.run is None:
                recorder.run_never_started(
                    event.request, event.outcome.status, event.outcome.error or ""
                )
            else:
                recorder.run_ended(event.run, event.outcome, event.record)

    return record


def log_to(runlog: RunLog) -> RunSubscriber:
    def log(event: RunEvent) -> None:
        if isinstance(event, RunStarting):
            runlog.started(event.request)
        elif isinstance(event, RunEnded):
            runlog.ended(event.request, event.outcome)

    return log


# What observers hear of a run's ending, from its runs.jsonl line.
ENDING_FIELDS: tuple[str, ...] = ("answer", "error", "instant", "started_at", "ended_at")
ENDING_FIELDS += ("duration_ms", "tokens", "cost")


def tell_observers(emit: Callable[..., None], clock: Callable[[], float]) -> RunSubscriber:
    """The (kind, fields) events of `Supervisor.observe`."""

    def tell(event: RunEvent) -> None:
        request = event.request
        ids = {"job_id": request.job_id, "run_id": request.run_id}
        if isinstance(event, RunLaunched):
            emit(
                "job_start",
                **ids,
                mode=request.mode,
                instant=request.instant,
                started_at=round(event.started_at, 3),
            )
        elif isinstance(event, RunEnded) and event.record is not None:
            record = event.record
            emit(
                "job_end",
                **ids,
                status=event.outcome.status,
                full_answer=event.outcome.answer,
                **{key: record.get(key) for key in ENDING_FIELDS},
            )
        elif isinstance(event, RunEnded):  # never got a worker
            now = round(clock(), 3)
            emit(
                "job_end",
                **ids,
                status=event.outcome.status,
                error=event.outcome.error,
                instant=request.instant,
                started_at=now,
                ended_at=now,
                duration_ms=0,
            )

    return tell


class PauseCounter:
    """pause_after_failures: count a job's failures in a row; pause and audit at the limit."""

    def __init__(
        self,
        scheduler: Scheduler | None,
        recorder: Recorder,
        runlog: RunLog,
        clock: Callable[[], float],
        on_paused: Callable[[str, str], None],
    ) -> None:
        self.scheduler = scheduler
        self.recorder = recorder
        self.runlog = runlog
        self.clock = clock
        self.on_paused = on_paused  # (job id, reason)

    def __call__(self, event: RunEvent) -> None:
        if isinstance(event, RunEnded) and event.run is not None:
            self.count(event.request, event.outcome)

    def count(self, request: RunRequest, outcome: Outcome) -> None:
        if request.origin != "schedule" or self.scheduler is None or request.job_id is None:
            return
        store = self.scheduler.pauses
        job = self.scheduler.jobs.get(request.job_id)
        if store is None or job is None or job.pause_after_failures is None:
            return
        if outcome.status == "interrupted":
            return  # stopped by a shutdown: says nothing about the job
        try:
            failures = store.count_outcome(job.id, outcome.status == "ok")
            if failures < job.pause_after_failures or job.id in store.read():
                return
            reason = (
                f"{failures} consecutive failures (pause_after_failures={job.pause_after_failures})"
            )
            store.pause(job.id, Pause(reason=reason, since=self.clock(), by="failures"))
        except OSError as exc:
            self.runlog.warn(
                f"cannot update {store.path} ({exc.strerror}); job {job.id} not paused"
            )
            return
        self.recorder.event(
            "job_paused",
            f"job {job.id} paused after {reason}; resume with: scoot schedule resume {job.id}",
            job_id=job.id,
            reason="failures",
            failures=failures,
        )
        self.runlog.err(f"[scoot] job {job.id} paused after {reason}")
        self.on_paused(job.id, reason)


class Observers:
    """The (kind, fields) observers of `Supervisor.observe`; a failing one is warned of once."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.observers: list[RunObserver] = []  # metrics, daemon.json, notifications
        self.warn = warn
        self._failing = False

    def add(self, observer: RunObserver) -> None:
        self.observers.append(observer)

    def emit(self, kind: str, **fields: Any) -> None:
        for observer in self.observers:
            try:
                observer(kind, fields)
            except Exception as exc:  # an observer is never worth a fire or a record
                if not self._failing:
                    self._failing = True
                    self.warn(f"run event subscriber failed on {kind}: {exc}")


def run_events(
    recorder: Recorder, runlog: RunLog, observers: Observers, pauses: PauseCounter
) -> RunEvents:
    """Records, run log, observers, pause counter: each hears every run event, in that order."""
    events = RunEvents()
    events.subscribe(record_to(recorder))
    events.subscribe(tell_observers(observers.emit, pauses.clock))
    events.subscribe(log_to(runlog))
    events.subscribe(pauses)
    return events
