"""One running worker as the parent sees it: its pipes, frames, deadline and outcome."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scoot.shared.frames import (
    AuditFrame,
    Frame,
    FrameError,
    FrameReader,
    Hello,
    ResultFrame,
    SessionFrame,
    UsageFrame,
    decode_frame,
)
from scoot.shared.procgroup import signal_name
from scoot.shared.spend.budget import Limits
from scoot.supervise.launch import WorkerProcess

OUTPUT_TAIL_BYTES = 16 * 1024
READ_CHUNK = 256 * 1024


@dataclass(frozen=True, kw_only=True)  # frozen at run time too: see scoot.shared.value_class
class RunRequest:
    """What to run: one occurrence of a job, a manual trigger, or a `-e` goal.

    Resolved once, when it is made (scoot.supervise.requests): nothing later
    rewrites it; a retry is a new request.
    """

    run_id: str
    session_id: str
    goal: str
    mode: str  # effective mode
    origin: str  # schedule | trigger | cli
    cwd: str  # where the worker runs
    own_workspace: bool  # cwd is the job's own directory under <home>/work, made at launch
    limits: Mapping[str, int]  # [sandbox] defaults overlaid with the job's own
    timeout_sec: float | None  # None: no time limit (a `-e` goal without one)
    backend: str  # the backend it uses, whose max_concurrent it counts against
    budget: Limits  # its job's token budgets under [budget]
    queued_at: float
    job_id: str | None = None
    instant: float | None = None  # the scheduled instant this run claims
    jitter_ms: int = 0  # the start waits this long after `instant` (scoot.schedule.jitter)
    attempt: int = 1  # 2 and more: a retry of the same instant (scoot.schedule.retry)
    not_before: float | None = None  # a retry starts no earlier than this
    result_schema: Any = None  # the job's expect_schema: told to the model, checked at the end


@dataclass
class Outcome:
    """How a run ended, in the terms of runs.jsonl and job_end."""

    status: str
    answer: str | None
    error: str | None
    exit_code: int | None
    signal: str | None
    duration_ms: int
    peak_rss_kb: int | None
    tokens: dict[str, int] | None = None  # {"input": N, "output": N}
    tokens_reported: bool = True  # False when a backend answered without usage
    cost: float | None = None  # with prices only


class ActiveRun:
    """Collects a worker's frames and output until it exits, then says how it ended."""

    def __init__(
        self,
        request: RunRequest,
        worker: WorkerProcess,
        started_at: float,
        allowance: Mapping[str, Any],
    ) -> None:
        self.request = request
        self.allowance = allowance  # the budget its spec carries: max_tokens, max_cost
        self.worker = worker
        self.started_at = started_at
        self.started_mono = time.monotonic()
        self.deadline_mono = (
            self.started_mono + request.timeout_sec if request.timeout_sec else None
        )
        self.term_sent_mono: float | None = None
        self.kill_sent = False
        self.timed_out = False
        self.stopped_by_shutdown = False
        self.stop_cause = "daemon shutdown"  # what asked for the stop, in the record's words
        self.hello: Hello | None = None
        self.result: ResultFrame | None = None
        self.output_tail = bytearray()
        self.output_total = 0
        self.wait_status: int | None = None
        self.rusage_maxrss_kb: int | None = None
        self.group_gone = False  # its worker was reaped before it ran: never signal its pid
        self.frames_open = True
        self.output_open = True
        self._reader = FrameReader()
        self.tokens_in = 0
        self.tokens_out = 0
        self.tokens_reported = True
        self.cost = 0.0
        self.priced = False
        self.over_budget: str | None = None  # why the parent ended it for spending too much

    def count_usage(self, frame: UsageFrame, cost: float | None) -> bool:
        """Add one answer's tokens; True when the answer was asked for past the allowance.

        The worker stops itself before a request once its allowance is used,
        so an answer that arrives after that was a request it must not send.
        """
        max_tokens = self.allowance.get("max_tokens")
        max_cost = self.allowance.get("max_cost")
        past = (isinstance(max_tokens, int) and self.tokens_in + self.tokens_out >= max_tokens) or (
            isinstance(max_cost, int | float) and self.priced and self.cost >= max_cost
        )
        self.tokens_in += frame.input
        self.tokens_out += frame.output
        self.tokens_reported = self.tokens_reported and frame.reported
        if cost is not None:
            self.priced = True
            self.cost += cost
        return past

    @property
    def pid(self) -> int:
        return self.worker.pid

    @property
    def exited(self) -> bool:
        return self.wait_status is not None

    def read_frames(self) -> list[Frame | FrameError]:
        """Drain the frame pipe; a closed pipe ends the stream."""
        found: list[Frame | FrameError] = []
        while self.frames_open:
            try:
                chunk = os.read(self.worker.frame_fd, READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self.frames_open = False
                tail = self._reader.close()
                if tail is not None:
                    found.append(tail)
                break
            for item in self._reader.feed(chunk):
                found.append(item if isinstance(item, FrameError) else self._decode(item))
        return found

    def _decode(self, line: bytes) -> Frame | FrameError:
        try:
            frame = decode_frame(line)
        except FrameError as exc:
            return exc
        if isinstance(frame, Hello):
            if self.hello is not None:
                return FrameError("second hello frame")
            self.hello = frame
        elif isinstance(frame, ResultFrame):
            if self.result is not None:
                return FrameError("second result frame")
            self.result = frame
        elif self.result is not None and isinstance(frame, AuditFrame | SessionFrame):
            return FrameError(f"{type(frame).__name__} after the result")
        return frame

    def read_output(self) -> None:
        """Drain stdout/stderr, keeping only a bounded tail (a flood costs no memory)."""
        while self.output_open:
            try:
                chunk = os.read(self.worker.output_fd, READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.output_open = False
                return
            self.output_total += len(chunk)
            self.output_tail.extend(chunk)
            if len(self.output_tail) > OUTPUT_TAIL_BYTES:
                del self.output_tail[: len(self.output_tail) - OUTPUT_TAIL_BYTES]

    def signal_group(self, signum: int) -> bool:
        try:
            os.killpg(self.pid, signum)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def terminate(self, now_mono: float) -> None:
        if self.term_sent_mono is None:
            self.term_sent_mono = now_mono
            self.signal_group(signal.SIGTERM)

    def kill(self) -> None:
        self.kill_sent = True
        self.signal_group(signal.SIGKILL)

    def close_pipes(self) -> None:
        for fd in (self.worker.frame_fd, self.worker.output_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.frames_open = self.output_open = False

    def outcome(self, ended_mono: float) -> Outcome:
        """The run's honest ending, from its result frame and how the process exited."""
        status_word = self.wait_status or 0
        exit_code: int | None = None
        signame: str | None = None
        if os.WIFSIGNALED(status_word):
            signame = signal_name(os.WTERMSIG(status_word))
        elif os.WIFEXITED(status_word):
            exit_code = os.WEXITSTATUS(status_word)
        ended_mono = self.ended_mono(ended_mono)
        duration_ms = int((ended_mono - self.started_mono) * 1000)
        limit = self.request.timeout_sec
        answer = error = None
        if self.timed_out:
            status = "timeout"
            error = f"timed out after {limit:g} s" if limit else "timed out"
        elif self.over_budget is not None:
            status, error = "budget", self.over_budget
        elif limit and ended_mono - self.started_mono > limit:
            # It ended past its limit while the parent was not looking (a stall).
            status = "timeout"
            error = f"timed out after {limit:g} s (it ended after {duration_ms / 1000:.1f} s)"
        elif self.result is not None:
            status, answer, error = self.result.status, self.result.answer, self.result.error
        elif self.stopped_by_shutdown:
            status, error = "interrupted", f"stopped by {self.stop_cause} before it finished"
        else:
            status = "crashed"
            how = f"signal {signame}" if signame else f"exit code {exit_code}"
            error = f"worker ended without a result ({how})"
            if signame == "SIGKILL" and not self.kill_sent:
                error += "; killed from outside (out of memory?)"
            elif signame == "SIGXCPU":
                error += "; CPU time limit reached (sandbox cpu_sec)"
        return Outcome(
            status,
            answer,
            error,
            exit_code,
            signame,
            duration_ms,
            self.rusage_maxrss_kb,
            tokens={"input": self.tokens_in, "output": self.tokens_out},
            tokens_reported=self.tokens_reported,
            cost=round(self.cost, 6) if self.priced else None,
        )

    def ended_mono(self, seen_mono: float) -> float:
        """When the run ended: its worker's own word, within [start, when it was seen]."""
        told = self.result.ended_mono if self.result is not None else None
        if told is None:
            return seen_mono
        return min(max(told, self.started_mono), seen_mono)

    def output_tail_text(self) -> str:
        return self.output_tail.decode("utf-8", "replace")
