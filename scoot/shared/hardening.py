"""Process hardening shared by the parent and the worker: non-dumpable, environment scrubbing."""

from __future__ import annotations

import ctypes
import os

from scoot.shared.kernel import PR_SET_DUMPABLE, _libc, _prctl
from scoot.shared.value_class import value_class


@value_class
class Restriction:
    """Whether one restriction is in force for the run, and why (or why not)."""

    applied: bool
    why: str


def set_non_dumpable() -> Restriction:
    """Make this process non-dumpable: same-uid processes can no longer open its
    /proc/<pid>/fd, environ or mem, nor ptrace it; no core dump. Fork keeps the
    flag; exec of a readable program clears it, so tools are dumpable again."""
    try:
        _prctl(PR_SET_DUMPABLE, 0)
    except OSError as error:
        return Restriction(False, f"prctl(PR_SET_DUMPABLE) failed: {error.strerror}")
    return Restriction(
        True, "non-dumpable: no process of the user can open its fds, environ or mem, or attach"
    )


def scrub_environ(name: str) -> bool:
    """Remove `name` from the environment, its value overwritten in the kernel's copy too.

    /proc/<pid>/environ shows the block the process started with, which
    unsetenv(3) leaves as it was; the value is overwritten in place there
    (glibc's getenv points into it), then the variable is unset. True if it was set.
    """
    libc = _libc()
    libc.getenv.restype = ctypes.c_void_p
    libc.getenv.argtypes = [ctypes.c_char_p]
    address = libc.getenv(os.fsencode(name))
    found = name in os.environ or bool(address)
    if address:
        length = ctypes.c_size_t(ctypes.string_at(address).__len__())
        ctypes.memset(address, 0, length.value)
    os.environ.pop(name, None)
    try:
        os.unsetenv(name)
    except OSError:
        pass
    return found
