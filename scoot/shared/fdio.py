"""Writing a whole buffer to a descriptor: os.write may take less than it is given."""

from __future__ import annotations

import os


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` to blocking descriptor `fd`, however many calls it takes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
