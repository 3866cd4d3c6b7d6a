"""Process identity: a pid plus its start time, so a reused pid is never mistaken."""

from __future__ import annotations

import psutil

from worker.main import RUN_MARK

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


def processes_of_runs(run_ids: set[str]) -> list[psutil.Process]:
    """Live processes whose environment marks them as part of one of `run_ids`."""
    found: list[psutil.Process] = []
    if not run_ids:
        return found
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(RUN_MARK) in run_ids and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def kill_processes(procs: list[psutil.Process]) -> int:
    """SIGKILL each process that is still the same one; return how many were killed."""
    killed = 0
    for proc in procs:
        try:
            proc.kill()  # psutil checks the pid was not reused before signalling
            killed += 1
        except psutil.Error:
            continue
    return killed
