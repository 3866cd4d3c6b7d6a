"""Per-run scratch directories (the worker makes its own): removed without following symlinks."""

from __future__ import annotations

import os
import stat
from typing import Any


def remove_scratch_dir(path: str) -> None:
    """Remove a scratch dir and everything in it, never following a symlink out of it.

    Directories a run left without write or search permission are opened up
    first. A missing path is fine; what cannot be removed raises OSError.
    """
    try:
        entry = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(entry.st_mode):
        os.unlink(path)  # a symlink or file in place of the dir: remove the entry only
        return
    failures: list[tuple[str, BaseException]] = []

    def record_failure(_function: Any, failed: str, info: Any) -> None:
        failures.append((failed, info[1]))

    import shutil  # parent-side only: the worker need not pay for this import

    for _attempt in range(64):
        failures.clear()
        # rmtree works from directory fds and never follows symlinks on Linux.
        shutil.rmtree(path, onerror=record_failure)
        if not os.path.lexists(path):
            return
        opened = [
            _open_up_dir(candidate)
            for failed, _error in failures
            for candidate in (failed, os.path.dirname(failed))
        ]
        if not any(opened):
            failed, error = failures[0] if failures else (path, OSError("unknown"))
            raise OSError(f"cannot remove scratch dir {path}: {failed}: {error}")
    raise OSError(f"cannot remove scratch dir {path}: still present after repeated attempts")


def _open_up_dir(path: str) -> bool:
    """Give the owner rwx on a real directory (not a symlink); True if that changed anything."""
    try:
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_IMODE(mode) & 0o700 == 0o700:
            return False
        # chmod through the fd's /proc entry: an O_PATH fd cannot be fchmod-ed.
        os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(mode) | 0o700)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
