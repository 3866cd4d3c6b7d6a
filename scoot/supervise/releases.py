"""Finished runs leave the ledger's in-flight table in batches; ledger outages warn once."""

from __future__ import annotations

import time
from pathlib import Path

from scoot.records.outage import Outage
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.schedule.scheduler import Scheduler
from scoot.supervise.runner import RunRequest


class LedgerReleases:
    """The runs that ended and are still in flight in the ledger, released in batches.

    Nothing waits on a release but another process's overlap check, so one
    transaction per `delay_sec` keeps fsyncs off the firing path. A run whose
    record could not be written yet (a full disk) stays in flight: should this
    process die before writing it, the next start records it interrupted
    instead of losing it.
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
    ) -> None:
        self.scheduler = scheduler
        self.recorder = recorder
        self.runlog = runlog
        self.runs_path = runs_path
        self.delay_sec = delay_sec
        self.finished: list[RunRequest] = []
        self.due_mono: float | None = None  # when the next batch is released
        self._outage = Outage(outage_dir)  # warn once per outage, not at every retry

    def add(self, request: RunRequest) -> None:
        self.finished.append(request)

    def release(self, *, force: bool) -> None:
        self.recorder.flush_runs()
        if not self.finished or self.scheduler is None:
            self.finished.clear()
            self.due_mono = None
            return
        now_mono = time.monotonic()
        if self.due_mono is None:
            self.due_mono = now_mono + self.delay_sec
        if not force and now_mono < self.due_mono:
            return
        unwritten = self.recorder.unwritten_run_ids()
        releasable = [r for r in self.finished if r.run_id not in unwritten]
        if releasable:
            try:
                self.scheduler.release(releasable)
            except OSError as exc:
                self.failed(f"cannot update the ledger ({exc.strerror}); will retry")
                self.due_mono = now_mono + self.delay_sec
                return
            self.ok()
        self.finished = [r for r in self.finished if r.run_id in unwritten]
        self.due_mono = now_mono + self.delay_sec if self.finished else None

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
