"""Finished runs are committed to disk in groups and leave the ledger's in-flight table in
batches; ledger outages warn once."""

from __future__ import annotations

import time
from pathlib import Path

from scoot.records.outage import Outage
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.schedule.scheduler import Scheduler
from scoot.supervise.runner import RunRequest

# The endings of runs that finish within this long of each other share one group
# commit (one fsync of runs.jsonl and one of the audit log).
COMMIT_DELAY_SEC = 0.05


class LedgerReleases:
    """The runs that ended and are still in flight in the ledger, released in batches.

    Nothing waits on a release but another process's overlap check, so one
    transaction per `delay_sec` keeps fsyncs off the firing path. A run whose
    record could not be written yet (a full disk) stays in flight: should this
    process die before writing it, the next start records it interrupted
    instead of losing it.

    Endings are committed (made durable) at most COMMIT_DELAY_SEC after the
    first one since the last commit, at once when forced, and always before
    any release.
    """

    def __init__(
        self,
        *,
        scheduler: Scheduler | None,
        recorder: Recorder,
        runlog: RunLog,
        runs_path: Path,
        outage_dir: Path,
        delay_sec: float,
        commit_delay_sec: float = COMMIT_DELAY_SEC,
    ) -> None:
        self.scheduler = scheduler
        self.recorder = recorder
        self.runlog = runlog
        self.runs_path = runs_path
        self.delay_sec = delay_sec
        self.commit_delay_sec = commit_delay_sec
        self.finished: list[RunRequest] = []
        self.release_mono: float | None = None  # when the next batch is released
        self.commit_mono: float | None = None  # when the endings written so far are committed
        self._outage = Outage(outage_dir)  # warn once per outage, not at every retry

    @property
    def due_mono(self) -> float | None:
        """When the loop must next call `release`: a commit or a batch is due."""
        dues = [d for d in (self.release_mono, self.commit_mono) if d is not None]
        return min(dues) if dues else None

    def add(self, request: RunRequest) -> None:
        self.finished.append(request)

    def commit(self, now_mono: float, *, force: bool) -> None:
        """The group commit of the endings written so far, once due (or forced)."""
        if not self.recorder.uncommitted:
            self.commit_mono = None
            return
        if self.commit_mono is None:
            self.commit_mono = now_mono + self.commit_delay_sec
        if force or now_mono >= self.commit_mono:
            committed = self.recorder.commit()
            self.commit_mono = None if committed else now_mono + self.delay_sec

    def release(self, *, force: bool) -> None:
        self.recorder.flush_runs()
        now_mono = time.monotonic()
        # Before any release: a run leaves the in-flight table only once its ending is durable.
        self.commit(now_mono, force=force)
        if not self.finished or self.scheduler is None:
            self.finished.clear()
            self.release_mono = None
            return
        if self.release_mono is None:
            self.release_mono = now_mono + self.delay_sec
        if not force and now_mono < self.release_mono:
            return
        if self.recorder.uncommitted:
            self.commit(now_mono, force=True)
        unwritten = self.recorder.unwritten_run_ids()
        releasable = [r for r in self.finished if r.run_id not in unwritten]
        if releasable:
            try:
                self.scheduler.release(releasable)
            except OSError as exc:
                self.failed(f"cannot update the ledger ({exc.strerror}); will retry")
                self.release_mono = now_mono + self.delay_sec
                return
            self.ok()
        self.finished = [r for r in self.finished if r.run_id in unwritten]
        self.release_mono = now_mono + self.delay_sec if self.finished else None

    def warn_unwritten(self) -> None:
        waiting = len(self.recorder.unwritten_run_ids())
        if waiting:
            self.runlog.warn(
                f"{waiting} run record(s) could not be written to {self.runs_path}; "
                "runs the ledger still holds are recorded interrupted at the next start"
            )

    def failed(self, warning: str) -> None:
        if self._outage.failed():
            self.runlog.warn(warning)

    def ok(self) -> None:
        if self._outage.succeeded() and self.scheduler is not None:
            self.runlog.warn(f"the ledger {self.scheduler.ledger.path} is writable again")
