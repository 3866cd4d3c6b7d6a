"""Leaving a one-shot process quickly, once everything durable is written and closed.

A `schedule run --ticks N` under a timer pays the interpreter's teardown
(freeing every module and object) at every tick, for nothing: the records
are committed and closed before the loop returns. The standard streams are
the only buffers left, so they are flushed, and the process ends with the
exit code it would have had.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

_quick = False


def leave_quickly() -> None:
    """Ask `finish` to skip the interpreter's teardown (the caller has closed its records)."""
    global _quick
    _quick = True


def finish(code: int, *, console: bool) -> NoReturn:
    """Exit with `code`: at once when asked to and this is the console script, else normally."""
    # Under a profiler or a tracer (coverage), their results are written at teardown.
    watched = sys.getprofile() is not None or sys.gettrace() is not None
    if console and _quick and not watched:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stream: nothing more can reach it
        os._exit(code)
    sys.exit(code)
