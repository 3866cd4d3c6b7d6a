"""Thin ctypes calls into libc: syscall(2) and prctl(2), errors raised as OSError."""

from __future__ import annotations

import ctypes
import os
from functools import cache
from typing import Any

# prctl options (linux/prctl.h).
PR_SET_PDEATHSIG = 1


PR_GET_PDEATHSIG = 2


PR_SET_NO_NEW_PRIVS = 38


PR_GET_NO_NEW_PRIVS = 39


PR_SET_DUMPABLE = 4


PR_GET_DUMPABLE = 3


PR_SET_SECCOMP = 22


SECCOMP_MODE_FILTER = 2


@cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    return libc


def _raise_errno(what: str) -> None:
    code = ctypes.get_errno()
    raise OSError(code, f"{what}: {os.strerror(code)}")


def _syscall(number: int, *args: Any) -> int:
    result = int(_libc().syscall(ctypes.c_long(number), *args))
    if result == -1:
        _raise_errno(f"syscall {number}")
    return result


def _prctl(option: int, arg2: Any = 0, arg3: Any = 0) -> int:
    if isinstance(arg2, int):
        arg2 = ctypes.c_ulong(arg2)
    if isinstance(arg3, int):
        arg3 = ctypes.c_ulong(arg3)
    zero = ctypes.c_ulong(0)
    result = int(_libc().prctl(ctypes.c_int(option), arg2, arg3, zero, zero))
    if result == -1:
        _raise_errno(f"prctl({option})")
    return result


def trim_heap() -> bool:
    """Give the C heap's free pages back to the kernel (glibc's malloc_trim(0)).

    Reading ten thousand jobs frees a few MiB of parse and cache buffers that
    the heap would otherwise keep resident for the daemon's life. False where
    the C library has no malloc_trim (musl).
    """
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return False
    trim(ctypes.c_size_t(0))
    return True


# timerfd (sys/timerfd.h): a timer on CLOCK_REALTIME that the kernel cancels when the clock is set.
CLOCK_REALTIME = 0
TFD_TIMER_ABSTIME = 1
TFD_TIMER_CANCEL_ON_SET = 2


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def timerfd_realtime() -> int:
    """A non-blocking, close-on-exec timerfd on CLOCK_REALTIME."""
    create = _libc().timerfd_create  # AttributeError where the C library has none
    fd = int(create(ctypes.c_int(CLOCK_REALTIME), ctypes.c_int(os.O_NONBLOCK | os.O_CLOEXEC)))
    if fd == -1:
        _raise_errno("timerfd_create")
    return fd


def timerfd_expire_at(fd: int, wall_at: float) -> None:
    """Expire once at `wall_at` (seconds since the epoch), and fail the next read with
    ECANCELED if the clock is set (a step, a resume from suspend) before that."""
    seconds = int(wall_at // 1)
    value = _Timespec(seconds, min(int((wall_at - seconds) * 1e9), 999_999_999))
    spec = _Itimerspec(_Timespec(0, 0), value)
    flags = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET
    result = int(
        _libc().timerfd_settime(ctypes.c_int(fd), ctypes.c_int(flags), ctypes.byref(spec), None)
    )
    if result == -1:
        _raise_errno("timerfd_settime")
