"""Process identity: a pid plus its start time, so a reused pid is never mistaken."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil

from scoot.shared.contract import RUN_MARK

# Start times are compared with this tolerance (psutil reads them from /proc in ticks).
START_TOLERANCE_SEC = 1.0


def start_time_of(pid: int) -> float | None:
    """When the process `pid` started (Unix seconds), or None if there is none."""
    if pid <= 0:
        return None
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, ValueError):
        return None


def is_alive(pid: int, start_time: float | None) -> bool:
    """True when `pid` runs and, if a start time is known, it is the same process."""
    if pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = proc.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return start_time is None
    if start_time is None:
        return True
    return abs(started - start_time) <= START_TOLERANCE_SEC


# Every worker, and so every process a run starts, carries its run id in the
# RUN_MARK variable. After a crash of the scoot process that owned a run, the
# next start finds what the run left behind by it (best effort: a process may
# clear its environment, which a cgroup per run would not allow).


@dataclass(frozen=True)
class Killed:
    pid: int
    name: str
    run_id: str


def _mark_of(proc: psutil.Process) -> str | None:
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.environ().get(RUN_MARK)
    except (psutil.Error, OSError):
        return None  # gone, or not ours to read (a non-dumpable worker: its pid is known)


def sweep_runs(
    run_ids: set[str],
    candidates: Callable[[], Iterable[psutil.Process]] = psutil.process_iter,
    *,
    reap: Callable[[], None] = lambda: None,
    within_sec: float = 2.0,
) -> list[Killed]:
    """SIGKILL every process marked with one of `run_ids` until a scan finds none.

    One pass is not enough: killing a shell re-parents the command below it
    after the pass has looked, and a process may fork while it is scanned.
    A killed process stops forking, so scans converge; `within_sec` bounds
    the loop should one refuse to die (uninterruptible sleep).
    """
    killed: dict[int, Killed] = {}
    if not run_ids:
        return []
    deadline = time.monotonic() + within_sec
    while True:
        found = [(proc, mark) for proc in candidates() if (mark := _mark_of(proc)) in run_ids]
        if not found:
            break
        for proc, mark in found:
            if proc.pid in killed:
                continue
            try:
                name = proc.name()
                proc.kill()  # psutil checks the pid was not reused before signalling
            except psutil.Error:
                continue
            killed[proc.pid] = Killed(proc.pid, name, str(mark))
        reap()
        if time.monotonic() >= deadline:
            break
        time.sleep(0.005)
    return list(killed.values())


def child_pids(pid: int) -> list[int] | None:
    """Direct children of `pid` from /proc (None where the kernel does not list them)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                found += [int(word) for word in handle.read().split()]
        except FileNotFoundError:
            if tid == str(pid):
                return None  # no CONFIG_PROC_CHILDREN
        except (OSError, ValueError):
            continue
    return found


def subtrees(roots: Iterable[int]) -> list[psutil.Process] | None:
    """The processes in the trees below (and including) `roots`; None if /proc cannot say.

    Walking down from a few roots reads only their own entries, where
    psutil's `children(recursive=True)` reads the parent of every process
    on the machine.
    """
    found: list[psutil.Process] = []
    pending = list(roots)
    seen: set[int] = set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            found.append(psutil.Process(pid))
        except psutil.Error:
            continue
        below = child_pids(pid)
        if below is None:
            return None
        pending += below
    return found


def describe_killed(killed: list[Killed]) -> str:
    """`pid 12 (sleep), pid 13 (sh)`, for audit messages."""
    return ", ".join(f"pid {k.pid} ({k.name})" for k in sorted(killed, key=lambda k: k.pid))
