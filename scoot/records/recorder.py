"""The single writer of a run's records: audit events, session transcript, runs.jsonl.

Workers only send frames; everything durable about a run is written here,
in the parent, so a worker that crashes or misbehaves cannot corrupt it.

A run's ending is written at once (its runs.jsonl line, then its job_end
event) and made durable by `commit`: one fsync of runs.jsonl, then one of
the audit log, for every run that ended since the last commit (a group
commit). Until then the run is reported by `unwritten_run_ids`, so it never
leaves the ledger's in-flight table before its ending is on disk.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from scoot.instance.home import Home
from scoot.records.audit import AuditLog, SessionLog, append_record
from scoot.records.outage import Outage
from scoot.shared.clipping import clip
from scoot.shared.frames import (
    AuditFrame,
    FallbackFrame,
    FrameError,
    Hello,
    ResultFrame,
    SessionFrame,
    UsageFrame,
)
from scoot.supervise.runner import ActiveRun, Outcome, RunRequest

ANSWER_CHARS_IN_RUNS = 4000
# Run records that could not be written (a full disk) wait in memory, up to this many.
MAX_UNWRITTEN_RUNS = 1000


class Recorder:
    """Turns run events into audit lines, session lines and run records."""

    def __init__(
        self,
        home: Home,
        audit: AuditLog,
        sessions: SessionLog,
        *,
        warn: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home = home
        self.audit = audit
        self.sessions = sessions
        self._warn = warn
        self._clock = clock
        self._runs_outage = Outage(home.runs.parent)
        self._sessions_outage = Outage(sessions.directory)
        self._unwritten: deque[dict[str, Any]] = deque()  # oldest first
        self._uncommitted: set[str] = set()  # run ids written since the last commit
        self.write_errors = 0  # failed run record and transcript writes (for metrics)

    def event(self, kind: str, msg: str, **details: Any) -> None:
        self.audit.event(kind, msg, **details)

    def run_event(self, request: RunRequest, kind: str, msg: str, **details: Any) -> None:
        """An audit event about one run, carrying its session, run and job ids."""
        self.audit.event(
            kind,
            msg,
            session_id=request.session_id,
            run_id=request.run_id,
            job_id=request.job_id,
            **details,
        )

    def run_started(self, request: RunRequest) -> None:
        self.run_event(
            request,
            "job_start",
            f"{_who(request)} started (mode={request.mode}): "
            + (clip(self.audit.redactor.text(request.goal), 200, tail=0.5) or ""),
            mode=request.mode,
            instant=request.instant,
            origin=request.origin,
            jitter_ms=request.jitter_ms if request.origin == "schedule" else None,
            warning=(
                "unrestricted: explicit opt-in to unattended writes and network"
                if request.mode == "unrestricted" and request.origin != "cli"
                else None
            ),
        )

    def frame(self, run: ActiveRun, frame: Any) -> None:
        request = run.request
        if isinstance(frame, FrameError):
            self.run_event(request, "protocol_error", str(frame), pid=run.pid)
        elif isinstance(frame, Hello):
            summary = str(frame.sandbox.get("summary") or frame.sandbox.get("landlock") or "")
            self.run_event(
                request,
                "sandbox",
                f"worker pid {frame.pid} ({frame.mode}): {summary}",
                pid=frame.pid,
                sandbox=frame.sandbox,
            )
        elif isinstance(frame, AuditFrame):
            self.run_event(request, frame.kind, frame.msg)
        elif isinstance(frame, SessionFrame):
            written = self.sessions.append(
                request.session_id, request.run_id, frame.role, frame.content
            )
            if not written:
                self.write_errors += 1
            if not written and self._sessions_outage.failed():
                self._warn(
                    f"cannot write session file for {request.session_id}; "
                    "transcript lines are lost until it recovers"
                )
            elif written and self._sessions_outage.succeeded():
                self._warn(f"session files in {self.sessions.directory} are writable again")
        elif isinstance(frame, FallbackFrame):
            self.run_event(
                request,
                "backend_fallback",
                f"{_who(request)} left backend {frame.from_backend} for its fallback "
                f"{frame.to_backend}: {frame.reason}",
                **{"from": frame.from_backend, "to": frame.to_backend},
            )
        elif isinstance(frame, ResultFrame | UsageFrame):
            pass  # recorded with the run's end, together with how the process exited

    def run_ended(
        self, run: ActiveRun, outcome: Outcome, record: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Write a run's ending: its runs.jsonl line (`record`, built here if not given), then job_end."""
        request = run.request
        if record is None:
            record = self.record(request, run.started_at, outcome)
        details = {
            k: record[k]
            for k in ("status", "exit_code", "signal", "duration_ms", "peak_rss_kb", "tokens")
        }
        for key in ("cost", "attempt"):
            if key in record:
                details[key] = record[key]
        tail = None
        if outcome.status in ("crashed", "error") and run.output_tail:
            tail = clip(self.audit.redactor.text(run.output_tail_text()), 2000, tail=0.5)
        # The runs.jsonl line first: it holds the answer. Should the process die
        # before the job_end event, recovery writes that event from this line.
        self.write_run(record)
        self.run_event(
            request,
            "job_end",
            f"{_who(request)} ended {outcome.status}"
            + (f": {outcome.error}" if outcome.error else ""),
            output_tail=tail,
            output_bytes=run.output_total or None,
            **details,
        )
        return record

    def complete_job_end(self, request: RunRequest, run_row: dict[str, Any]) -> None:
        """The job_end event of a run whose runs.jsonl line was written before a crash."""
        status = str(run_row.get("status") or "interrupted")
        error = run_row.get("error")
        details = {k: run_row.get(k) for k in ("exit_code", "signal", "duration_ms", "peak_rss_kb")}
        self.run_event(
            request,
            "job_end",
            f"{_who(request)} ended {status}"
            + (f": {error}" if error else "")
            + " (event completed at recovery from runs.jsonl)",
            status=status,
            recovered=True,
            **details,
        )

    def write_run(self, record: dict[str, Any]) -> None:
        """Append a run's record; if the disk refuses, keep it and retry (`flush_runs`)."""
        if len(self._unwritten) >= MAX_UNWRITTEN_RUNS:
            dropped = self._unwritten.popleft()
            self._warn(
                f"dropped the record of run {dropped.get('run_id')}: "
                f"{MAX_UNWRITTEN_RUNS} records already wait for {self.home.runs}"
            )
        self._unwritten.append(record)
        self.flush_runs()

    def flush_runs(self) -> bool:
        """Write the run records still waiting, oldest first; True when none is left."""
        while self._unwritten:
            try:
                # Not fsynced here: `commit` makes every line written since the last one durable.
                append_record(self.home.runs, self._unwritten[0])
            except OSError as exc:
                if self._runs_outage.failed():
                    self._warn(
                        f"cannot write {self.home.runs}: {exc.strerror}; "
                        "run records are kept and retried"
                    )
                self.write_errors += 1
                return False
            self._uncommitted.add(str(self._unwritten.popleft().get("run_id")))
            if self._runs_outage.succeeded():
                self._warn(f"{self.home.runs} is writable again")
        return True

    @property
    def uncommitted(self) -> bool:
        """Run records are written that no commit has made durable yet."""
        return bool(self._uncommitted)

    def commit(self) -> bool:
        """Make every ending written so far durable: runs.jsonl first, then the audit log.

        One fsync each, however many runs ended (a group commit). False when
        runs.jsonl could not be synced: its runs stay uncommitted and are retried.
        """
        if self._uncommitted:
            try:
                fd = os.open(self.home.runs, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.fsync(fd)  # the lines are the runs' proof
                finally:
                    os.close(fd)
            except OSError as exc:
                if self._runs_outage.failed():
                    self._warn(f"cannot sync {self.home.runs}: {exc.strerror}; will retry")
                self.write_errors += 1
                return False
            self._uncommitted.clear()
        self.audit.sync()
        return True

    def close(self) -> None:
        """Commit what is written, then close the audit log."""
        self.commit()
        self.audit.close()

    def unwritten_run_ids(self) -> set[str]:
        """Runs whose record is not yet durable: waiting to be written, or to be committed."""
        return {str(record.get("run_id")) for record in self._unwritten} | self._uncommitted

    def run_never_started(self, request: RunRequest, status: str, reason: str) -> None:
        """A claimed occurrence that ended without a worker (interrupted, refused)."""
        self.run_event(
            request,
            "job_end",
            f"{_who(request)} ended {status}: {reason}",
            status=status,
            duration_ms=0,
        )
        outcome = Outcome(status, None, reason, None, None, 0, None)
        self.write_run(self.record(request, self._clock(), outcome))

    def record(self, request: RunRequest, started_at: float, outcome: Outcome) -> dict[str, Any]:
        """The runs.jsonl line of a run, secrets redacted."""
        record: dict[str, Any] = {
            "run_id": request.run_id,
            "job_id": request.job_id,
            "session_id": request.session_id,
            "origin": request.origin,
            "mode": request.mode,
            "instant": request.instant,
            "started_at": round(started_at, 3),
            "ended_at": round(self._clock(), 3),
            "status": outcome.status,
            "exit_code": outcome.exit_code,
            "signal": outcome.signal,
            "duration_ms": outcome.duration_ms,
            "peak_rss_kb": outcome.peak_rss_kb,
            "answer": outcome.answer,
            "error": outcome.error,
            "backend": request.backend,
            "tokens": dict(outcome.tokens or {"input": 0, "output": 0}),
            "tokens_reported": outcome.tokens_reported,
        }
        if outcome.cost is not None:
            record["cost"] = outcome.cost
        if request.origin == "schedule":
            record["attempt"] = request.attempt
        record = self.audit.redactor.value(record)
        # Clipped after redaction, so a secret at the clip edge is never stored in part.
        record["answer"] = clip(record["answer"], ANSWER_CHARS_IN_RUNS, tail=0.5)
        return record


def _who(request: RunRequest) -> str:
    return f"job {request.job_id}" if request.job_id else f"run {request.session_id}"
