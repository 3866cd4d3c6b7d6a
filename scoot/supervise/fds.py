"""File descriptor hygiene of a forked worker: only the named descriptors stay open."""

from __future__ import annotations

import os
import resource


def close_fds_except(keep: set[int]) -> None:
    """Close every open file descriptor not in `keep` (0, 1 and 2 included)."""
    if any(fd < 0 for fd in keep):
        raise ValueError(f"file descriptors are >= 0, got {sorted(keep)}")
    try:
        highest = max(int(name) for name in os.listdir("/proc/self/fd"))
    except (OSError, ValueError):
        highest = max(os.sysconf("SC_OPEN_MAX"), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    low = 0
    for fd in sorted(keep):
        # Never call closerange(n, n): CPython 3.11 passes n - 1 to close_range(2),
        # and for n = 0 that wraps to "every descriptor".
        if low < fd:
            os.closerange(low, fd)
        low = fd + 1
    if low <= highest:
        os.closerange(low, highest + 1)
