"""The one reaping path: every ended child of this process, workers, strays and orphans alike."""

from __future__ import annotations

import os

from scoot.shared.value_class import value_class


@value_class
class Reaped:
    pid: int
    wait_status: int
    maxrss_kb: int


def reap_children() -> tuple[list[Reaped], bool]:
    """Collect ended children until none is left to collect; say whether any child remains.

    As the arbiters do: one `waitpid(-1, WNOHANG)` loop until 0 or ECHILD, so a
    SIGCHLD coalesced with another, or a child re-parented to us, is never left
    a zombie.
    """
    reaped: list[Reaped] = []
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped, False
        if pid == 0:
            return reaped, True
        reaped.append(Reaped(pid, status, int(usage.ru_maxrss)))
