"""The loop's mechanics, in the arbiter style: one selector, queued signals, timers, stalls.

Signal handlers only queue the signal and wake the selector (scoot.supervise.signals);
the owner's `handle_<name>` methods (handle_term for SIGTERM) run between passes.
"""

from __future__ import annotations

import selectors
import signal
import time
from collections.abc import Callable

from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.supervise.hooks import Endpoint
from scoot.supervise.signals import SignalQueue

# Waking later than planned by more than this is a stall worth recording.
STALL_AFTER_SEC = 3.0


def stall_length(wake_by_mono: float, now_mono: float) -> float | None:
    """How late the loop woke, when that is a stall; None otherwise."""
    late = now_mono - wake_by_mono
    return late if late > STALL_AFTER_SEC else None


class StallWatch:
    """When the loop could not react for over STALL_AFTER_SEC, and why.

    Two ways a stop (SIGSTOP, swapping) shows: the loop wakes long after the
    instant it meant to, or, when the stop lands while it is working, one pass
    takes that long. Either is the same stall to the user. Times are injected.
    """

    def __init__(self) -> None:
        self._wake_by_mono: float | None = None  # when the current wait should end
        self._pass_began_mono: float | None = None  # when the current pass began

    def woke(self, now_mono: float) -> tuple[float, str] | None:
        """The loop woke at now: a stall if that is far past the wait's end."""
        wake_by, self._wake_by_mono = self._wake_by_mono, None
        self._pass_began_mono = now_mono
        late = None if wake_by is None else stall_length(wake_by, now_mono)
        return None if late is None else (late, "woke that late")

    def pass_ended(self, now_mono: float) -> tuple[float, str] | None:
        """The pass ends (the loop waits or returns): a stall if it took too long."""
        began, self._pass_began_mono = self._pass_began_mono, None
        took = None if began is None else stall_length(began, now_mono)
        return None if took is None else (took, "one pass took that long")

    def sleeping(self, now_mono: float, timeout: float) -> tuple[float, str] | None:
        """The loop is about to wait `timeout`: the pass that ends is measured."""
        self._wake_by_mono = now_mono + timeout
        return self.pass_ended(now_mono)


# The longest single sleep: the selector's timeout is bounded (about 24.8 days in epoll),
# and a loop woken for nothing an hour later only sleeps again.
MAX_SLEEP_SEC = 3600.0


def sleep_for(waits: list[float], instants: list[float | None], now_mono: float) -> float:
    """Seconds until the earliest of `waits` (from now) and `instants` (monotonic); 1 s if none."""
    waits = waits + [instant - now_mono for instant in instants if instant is not None]
    return min(MAX_SLEEP_SEC, max(0.0, min(waits))) if waits else 1.0


class Loop:
    """A selector over the signal wakeup fd, the endpoints' sockets and whatever the owner adds."""

    def __init__(self, signals: SignalQueue | None, recorder: Recorder, runlog: RunLog) -> None:
        self.recorder = recorder
        self.runlog = runlog
        self.selector = selectors.DefaultSelector()
        self.signals = signals or SignalQueue()
        self._owns_signals = signals is None  # a daemon keeps its queue until it has stopped
        self.stalls = StallWatch()
        self.endpoints: list[Endpoint] = []  # served from the selector (metrics)

    def open(self) -> None:
        self.stalls.woke(time.monotonic())  # the first pass begins: nothing was planned
        self.signals.install()
        self.selector.register(self.signals.read_fd, selectors.EVENT_READ, None)
        for endpoint in self.endpoints:
            endpoint.attach(self.selector)

    def close(self) -> None:
        for endpoint in self.endpoints:
            endpoint.close()
        if self._owns_signals:
            self.signals.uninstall()
        self.selector.close()

    def dispatch_signals(self, owner: object) -> None:
        """Each queued signal, in order, to the owner's handle_<name> method."""
        for signum in self.signals.pop_all():
            name = signal.Signals(signum).name
            handler = getattr(owner, f"handle_{name[3:].lower()}", None)
            if handler is not None:
                handler()

    def end_pass(self) -> None:
        """The last pass is done (the loop returns instead of waiting): measure it too."""
        self._report(self.stalls.pass_ended(time.monotonic()))

    def _report(self, stall: tuple[float, str] | None) -> None:
        if stall is not None:
            length, how = stall
            text = f"the scheduler loop stalled for {length:.1f} s ({how})"
            self.recorder.event("daemon_stalled", text, stalled_sec=round(length, 3))
            self.runlog.warn(text)

    def expire(self) -> None:
        for endpoint in self.endpoints:
            endpoint.expire()

    def deadlines(self) -> list[float | None]:
        return [endpoint.next_deadline() for endpoint in self.endpoints]

    def wait(self, timeout: float, readable: Callable[..., None]) -> None:
        """Sleep until something is readable or `timeout` passed; `readable` gets the owner's keys."""
        self._report(self.stalls.sleeping(time.monotonic(), timeout))
        ready = self.selector.select(timeout)
        # The pass begins here, so reading what woke the loop counts as part of it.
        self._report(self.stalls.woke(time.monotonic()))
        for key, mask in ready:
            if key.data is None:
                self.signals.drain_wakeups()
            elif callable(key.data):  # an endpoint's socket
                key.data(mask)
            else:
                readable(*key.data)  # what the owner registered: (run, which pipe)
