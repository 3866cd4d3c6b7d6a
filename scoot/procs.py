"""Process identity: a pid plus its start time, so a reused pid is never mistaken."""

from __future__ import annotations

import psutil

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
