"""Process groups and signal names, needed alike by the parent and by the worker's bash tool."""

from __future__ import annotations

import contextlib
import os
import signal


def signal_name(number: int) -> str:
    """`SIGTERM` for 15; the bare number for one Python has no name for."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def kill_group(pgid: int) -> None:
    """SIGKILL every process in group `pgid`; a group already gone (or not ours) is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
