"""A fault-injection hook: SIGKILL this process right after its Nth fsync.

`SCOOT_FAULT_KILL_AFTER_FSYNC=N` lets the fault suite stop the real binary at
each durable-write point in turn (the kill points of docs/reliability.md).
Unset, nothing is installed and fsync costs what it always did. The count is
this process's own: the variable is removed from the environment, and forked
workers do not count.
"""

from __future__ import annotations

import os
import signal

KILL_AFTER_FSYNC_ENV = "SCOOT_FAULT_KILL_AFTER_FSYNC"


def install_from_env() -> None:
    wanted = os.environ.pop(KILL_AFTER_FSYNC_ENV, "").strip()
    if not wanted.isdigit() or int(wanted) < 1:
        return
    limit = int(wanted)
    owner = os.getpid()
    real_fsync = os.fsync
    done = 0

    def fsync_then_maybe_die(fd: int) -> None:
        nonlocal done
        real_fsync(fd)
        if os.getpid() != owner:
            return
        done += 1
        if done >= limit:
            os.kill(owner, signal.SIGKILL)

    os.fsync = fsync_then_maybe_die  # type: ignore[assignment]
