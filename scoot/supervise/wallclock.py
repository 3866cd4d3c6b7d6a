"""The wall clock, watched: the loop wakes at a wall instant, and at once when the clock is set.

The loop's sleep is measured on the monotonic clock, while jobs are due at
wall instants. A loop that does not wake every poll must still hear of a
step of the wall clock (an NTP step, `date -s`, a resume from suspend) before
its next due instant: a timer on CLOCK_REALTIME, armed with
TFD_TIMER_CANCEL_ON_SET, is cancelled by the kernel when the clock is set,
which wakes the selector; the scheduler's next decision sees the new time
(a step back re-plans every job, a step ahead finds what became due). Armed
at the next due instant, it also expires on the wall clock's time, whatever
the monotonic clock did meanwhile. Where timerfd is missing or fails,
`watching` is False and the loop wakes every poll to look at the clock itself.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import selectors
import time
from collections.abc import Callable

from scoot.shared.kernel import timerfd_expire_at, timerfd_realtime

# With nothing due, the timer is armed this far ahead: armed, it is cancelled by a clock set.
FAR_AHEAD_SEC = 86400.0


def rearm_needed(armed_at: float | None, wanted_at: float) -> bool:
    """Whether the timer must be set again to expire at `wanted_at` (inf: nothing due)."""
    if armed_at is None:
        return True
    if math.isinf(wanted_at):
        return False  # armed already, for a due instant or far ahead: a clock set cancels it
    return armed_at != wanted_at


class WallClockWatch:
    """One timerfd in the loop's selector (an Endpoint: it needs no deadline of its own).

    Made when the loop opens (`attach`) and closed with it. Instants are on the
    loop's clock; where that is not the system's (an injected clock), they are
    carried over by the two clocks' difference.
    """

    def __init__(self, clock: Callable[[], float], warn: Callable[[str], None]) -> None:
        self._clock = clock
        self._warn = warn
        self.fd: int | None = None
        self.armed_at: float | None = None  # the instant (on the loop's clock) it expires at
        self.clock_sets = 0  # how often the kernel cancelled it: the clock was set
        self.expiries = 0
        self._selector: selectors.BaseSelector | None = None

    @property
    def watching(self) -> bool:
        return self.fd is not None

    def arm(self, wall_at: float | None) -> bool:
        """Expire at `wall_at`; None: nothing is due, keep only the watch on clock sets.

        True when the clock was set since the timer was last read: the loop must
        decide again at once (the kernel armed the timer all the same).
        """
        if self.fd is None:
            return False
        wanted = math.inf if wall_at is None else wall_at
        if not rearm_needed(self.armed_at, wanted):
            return False
        now = self._clock()
        target = now + FAR_AHEAD_SEC if math.isinf(wanted) else wanted
        if self._clock is not time.time:
            target += time.time() - now
        set_meanwhile = False
        try:
            timerfd_expire_at(self.fd, target)
        except OSError as exc:
            if exc.errno != errno.ECANCELED:
                self._fall_back(exc)
                return False
            self.clock_sets += 1
            set_meanwhile = True
        self.armed_at = wanted
        return set_meanwhile

    def readable(self, _mask: int) -> None:
        """The timer expired or the clock was set: take its value; the next arm sets it again."""
        if self.fd is None:
            return
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            return  # woken for nothing (a set re-armed before the read)
        except OSError as exc:
            if exc.errno != errno.ECANCELED:
                self._fall_back(exc)
                return
            self.clock_sets += 1
        else:
            self.expiries += 1
        self.armed_at = None

    def _fall_back(self, exc: OSError) -> None:
        self._warn(
            f"cannot watch the wall clock ({exc.strerror}); "
            "the loop wakes every poll to look at it instead"
        )
        self.close()

    # -- Endpoint -------------------------------------------------------------
    def attach(self, selector: selectors.BaseSelector) -> None:
        try:
            self.fd = timerfd_realtime()
        except AttributeError:
            return  # a C library without timerfd: the loop polls the clock
        except OSError as exc:
            self._fall_back(exc)
            return
        selector.register(self.fd, selectors.EVENT_READ, self.readable)
        self._selector = selector

    def next_deadline(self) -> float | None:
        return None

    def expire(self) -> None:
        """Nothing overstays here."""

    def close(self) -> None:
        if self.fd is None:
            return
        fd, self.fd, self.armed_at = self.fd, None, None
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(fd)
        os.close(fd)
