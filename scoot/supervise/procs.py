"""Process identity and the sweep for a run's leftovers, read from /proc directly.

A process is a pid plus its start time, so a reused pid is never mistaken.
Everything here reads the few /proc files it needs (`stat`, `environ`,
`task/*/children`) without building a process object per pid: at the end of
every run of a burst, that cost was a large share of the daemon's CPU.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable

from scoot.shared.contract import RUN_MARK
from scoot.shared.value_class import value_class

# Start times are compared with this tolerance (/proc gives them in clock ticks).
START_TOLERANCE_SEC = 1.0
_DEAD_STATES = frozenset({"Z", "X", "x"})


@value_class
class ProcStat:
    """The fields of /proc/<pid>/stat this module uses."""

    name: str
    state: str
    ppid: int
    pgrp: int
    start_ticks: int

    @property
    def dead(self) -> bool:
        """A zombie or a process being torn down: nothing it can do any more."""
        return self.state in _DEAD_STATES


def read_stat(pid: int) -> ProcStat | None:
    """The process's stat line, or None when there is no such process (or it is hidden)."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    # The name sits in parentheses and may hold anything, ")" and spaces included.
    open_at, close_at = raw.find(b"("), raw.rfind(b")")
    fields = raw[close_at + 2 :].split()
    try:
        return ProcStat(
            raw[open_at + 1 : close_at].decode(errors="replace"),
            fields[0].decode(),
            int(fields[1]),
            int(fields[2]),
            int(fields[19]),
        )
    except (IndexError, ValueError):
        return None


_boot_time: float | None = None


def boot_time() -> float:
    """When the machine booted (Unix seconds), from /proc/stat's btime."""
    global _boot_time
    if _boot_time is None:
        try:
            with open("/proc/stat", "rb") as handle:
                for line in handle:
                    if line.startswith(b"btime "):
                        _boot_time = float(line.split()[1])
                        break
        except (OSError, ValueError):
            pass
        if _boot_time is None:
            _boot_time = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return _boot_time


_TICKS = os.sysconf("SC_CLK_TCK")


def started_at(stat: ProcStat) -> float:
    """A process's start in Unix seconds (the same figure psutil's create_time gives)."""
    return boot_time() + stat.start_ticks / _TICKS


def start_time_of(pid: int) -> float | None:
    """When the process `pid` started (Unix seconds), or None if there is none."""
    stat = read_stat(pid)
    return None if stat is None else started_at(stat)


def is_alive(pid: int, start_time: float | None) -> bool:
    """True when `pid` runs and, if a start time is known, it is the same process."""
    stat = read_stat(pid)
    if stat is None or stat.dead:
        return False
    if start_time is None:
        return True
    return abs(started_at(stat) - start_time) <= START_TOLERANCE_SEC


def all_pids() -> list[int]:
    """Every process the machine shows in /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    return [int(name) for name in names if name.isdigit()]


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


def children_of(pid: int) -> list[int]:
    """Direct children of `pid`; by each process's parent where the kernel lists none."""
    listed = child_pids(pid)
    if listed is not None:
        return listed
    found = []
    for other in all_pids():
        stat = read_stat(other)
        if stat is not None and stat.ppid == pid:
            found.append(other)
    return found


def subtrees(roots: Iterable[int]) -> list[int] | None:
    """The pids in the trees below (and including) `roots`; None if /proc cannot say.

    Walking down from a few roots reads only their own entries, not the
    parent of every process on the machine.
    """
    found: list[int] = []
    pending = list(roots)
    seen: set[int] = set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        if read_stat(pid) is None:
            continue
        found.append(pid)
        below = child_pids(pid)
        if below is None:
            return None
        pending += below
    return found


def group_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, name) of the live processes in process group `pgid`."""
    members = []
    for pid in all_pids():
        stat = read_stat(pid)
        if stat is not None and stat.pgrp == pgid and not stat.dead:
            members.append((pid, stat.name))
    return members


def run_mark_of(pid: int) -> str | None:
    """The RUN_MARK value in a process's environment, if it is readable and set."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            block = handle.read()
    except OSError:
        return None  # gone, or not ours to read (a non-dumpable worker: its pid is known)
    prefix = RUN_MARK.encode() + b"="
    for entry in block.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


# Every worker, and so every process a run starts, carries its run id in the
# RUN_MARK variable. After a crash of the scoot process that owned a run, the
# next start finds what the run left behind by it (best effort: a process may
# clear its environment, which a cgroup per run would not allow).


@value_class
class Killed:
    pid: int
    name: str
    run_id: str


@value_class
class _Marked:
    pid: int
    stat: ProcStat
    run_id: str


def _marked(pids: Iterable[int], run_ids: set[str]) -> list[_Marked]:
    found = []
    for pid in pids:
        stat = read_stat(pid)
        if stat is None or stat.dead:
            continue
        mark = run_mark_of(pid)
        if mark in run_ids:
            found.append(_Marked(pid, stat, str(mark)))
    return found


def kill_same(pid: int, stat: ProcStat) -> bool:
    """SIGKILL `pid` if it is still the process `stat` was read from (pids are reused)."""
    now = read_stat(pid)
    if now is None or now.start_ticks != stat.start_ticks:
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return False
    return True


def sweep_runs(
    run_ids: set[str],
    candidates: Callable[[], Iterable[int]] = all_pids,
    *,
    reap: Callable[[], None] = lambda: None,
    within_sec: float = 2.0,
) -> list[Killed]:
    """SIGKILL every process marked with one of `run_ids` until a scan finds none.

    `candidates` gives the pids to look at. One pass is not enough: killing a
    shell re-parents the command below it after the pass has looked, and a
    process may fork while it is scanned. A killed process stops forking, so
    scans converge; `within_sec` bounds the loop should one refuse to die
    (uninterruptible sleep).
    """
    killed: dict[int, Killed] = {}
    if not run_ids:
        return []
    deadline = time.monotonic() + within_sec
    while True:
        found = _marked(candidates(), run_ids)
        if not found:
            break
        for item in found:
            if item.pid not in killed and kill_same(item.pid, item.stat):
                killed[item.pid] = Killed(item.pid, item.stat.name, item.run_id)
        reap()
        if time.monotonic() >= deadline:
            break
        time.sleep(0.005)
    return list(killed.values())


def describe_killed(killed: list[Killed]) -> str:
    """`pid 12 (sleep), pid 13 (sh)`, for audit messages."""
    return ", ".join(f"pid {k.pid} ({k.name})" for k in sorted(killed, key=lambda k: k.pid))
