"""When a failing file counts as writable again: one warning per outage, one on recovery.

A write that succeeds is not enough: on a full filesystem a short line still
fits in the slack of the file's last page while the next long one fails, and
warnings would alternate at every event. An outage ends at a successful write
made while the filesystem has room again.
"""

from __future__ import annotations

import os
from pathlib import Path

# Free space below this is still "full": a page's slack is not room.
ROOM_BYTES = 64 * 1024


def has_room(directory: Path) -> bool:
    """True when the filesystem holding `directory` has ROOM_BYTES free (or cannot say)."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return True  # nothing to go on: the successful write decides
    return st.f_bavail * st.f_frsize >= ROOM_BYTES


class Outage:
    """Tracks one file's failing state; the methods say when to warn."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.failing = False

    def failed(self) -> bool:
        """A write failed; True when this begins an outage (warn now)."""
        began = not self.failing
        self.failing = True
        return began

    def succeeded(self) -> bool:
        """A write succeeded; True when this ends an outage (say it is writable again)."""
        if self.failing and has_room(self.directory):
            self.failing = False
            return True
        return False
