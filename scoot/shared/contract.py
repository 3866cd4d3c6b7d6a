"""What the parent and a run's worker agree on, importable by both sides."""

from __future__ import annotations

import os

# The variable that marks every process of a run with its run id: the parent finds
# a run's processes by it (scoot.supervise.procs), even after a crash of its owner.
RUN_MARK = "SCOOT_RUN_ID"

# The descriptor on which a worker started ahead of its instant waits for the
# parent's go (one byte; end of file: the run is called off). Absent otherwise.
GO_FD = 5


def wait_for_go(fd: int) -> bool:
    """Block on a held worker's go pipe: True at the go, False when the run is called off."""
    try:
        return os.read(fd, 1) == b"g"
    except OSError:
        return False
    finally:
        os.close(fd)
