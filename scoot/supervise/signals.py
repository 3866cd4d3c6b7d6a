"""Signal handling in the arbiter style: handlers only record and wake the loop."""

from __future__ import annotations

import os
import queue
import signal
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)


class SignalQueue:
    """Queues signals and wakes a selector through a non-blocking pipe."""

    def __init__(self, signals: tuple[int, ...] = HANDLED) -> None:
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # Unbounded and drained one item at a time: a handler can run between any two
        # bytecodes, so a copy-then-clear would lose a signal, and a bounded deque would
        # let a SIGCHLD burst push out a SIGTERM.
        self.pending: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._signals = signals
        self._previous: dict[int, object] = {}
        self._previous_wakeup = -1
        self.installed = False

    def install(self) -> None:
        """Idempotent: a daemon installs early so no signal during start-up is lost."""
        if self.installed:
            return
        self.installed = True
        self._previous_wakeup = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        for signum in self._signals:
            self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.pending.put_nowait(signum)

    def drain_wakeups(self) -> None:
        try:
            while os.read(self.read_fd, 4096):
                pass
        except BlockingIOError:
            pass

    def pop_all(self) -> list[int]:
        """Every signal received since the last call, in order (a second SIGTERM counts)."""
        items: list[int] = []
        while True:
            try:
                items.append(self.pending.get_nowait())
            except queue.Empty:
                return items

    def uninstall(self) -> None:
        if not self.installed:
            return
        self.installed = False
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        signal.set_wakeup_fd(self._previous_wakeup)
        self._previous.clear()
        os.close(self.read_fd)
        os.close(self.write_fd)
