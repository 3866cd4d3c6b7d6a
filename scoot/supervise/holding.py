"""Scheduled runs forked just ahead of their instant and held until it comes.

An occurrence is claimed in the ledger 50 ms before its instant (the claim
lead). A scheduled run claimed then is forked at once, held: its worker
reads its spec, applies its sandbox, says hello, builds its prompt and opens
its model connection, then blocks on its go pipe. When the instant comes
the run table gives it the go and writes its job_start, so neither the fork
nor the worker's start is paid after the instant, one run after another.

A held worker is a child of this process like any worker: the one reaper
collects it, and a held run that must not start (a stop) is called off:
killed and reaped, never run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoot.supervise.launch import WorkerProcess
from scoot.supervise.runner import RunRequest


def holds(request: RunRequest, ahead_sec: float, lead_sec: float, backend_cap: int) -> bool:
    """Whether to fork `request` now, `ahead_sec` before its start, and hold it.

    Only scheduled runs due within the claim lead: a manual trigger or a `-e`
    goal starts at once anyway, a later start (jitter, a retry's backoff)
    would hold a process for nothing, and a backend with a max_concurrent cap
    decides at the start whether the run may go.
    """
    return request.origin == "schedule" and 0 < ahead_sec <= lead_sec and backend_cap <= 0


@dataclass
class Held:
    """One held run's worker and the allowance its spec was built with."""

    worker: WorkerProcess
    allowance: dict[str, Any]
    wait_status: int | None = None  # set when the reaper collected it while held
    maxrss_kb: int | None = None


class HeldRuns:
    """The held runs, by run id (and by worker pid, for the reaper and the sweep)."""

    def __init__(self) -> None:
        self._by_run: dict[str, Held] = {}
        self._by_pid: dict[int, Held] = {}

    def __len__(self) -> int:
        return len(self._by_run)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._by_run

    def has_pid(self, pid: int) -> bool:
        return pid in self._by_pid

    def workers(self) -> list[WorkerProcess]:
        return [held.worker for held in self._by_run.values()]

    def add(self, run_id: str, held: Held) -> None:
        self._by_run[run_id] = held
        self._by_pid[held.worker.pid] = held

    def take(self, run_id: str) -> Held | None:
        """The held run of `run_id`, no longer held; None when it was not."""
        held = self._by_run.pop(run_id, None)
        if held is not None and self._by_pid.get(held.worker.pid) is held:
            del self._by_pid[held.worker.pid]
        return held

    def reaped(self, pid: int, wait_status: int, maxrss_kb: int) -> bool:
        """The reaper collected `pid`: keep its exit if it was a held worker (it died held)."""
        held = self._by_pid.pop(pid, None)  # the pid is free now: it may come back as another's
        if held is None:
            return False
        held.wait_status, held.maxrss_kb = wait_status, maxrss_kb
        return True

    def call_off(self, run_id: str) -> bool:
        """End the held worker of `run_id` unrun: kill its group, reap it, close its pipes."""
        held = self.take(run_id)
        if held is None:
            return False
        held.worker.call_off(reaped=held.wait_status is not None)
        return True
