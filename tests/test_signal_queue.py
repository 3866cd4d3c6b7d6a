"""The supervisor's signal queue: real signals sent to this process."""

from __future__ import annotations

import os
import signal

from scoot.supervise.signals import SignalQueue


def _send(signum: int) -> None:
    # A signal a process sends itself is handled before os.kill returns to Python code.
    os.kill(os.getpid(), signum)


def test_a_sigchld_burst_keeps_an_earlier_sigterm() -> None:
    queue = SignalQueue()
    queue.install()
    try:
        _send(signal.SIGTERM)
        for _ in range(500):
            _send(signal.SIGCHLD)
        popped = queue.pop_all()
    finally:
        queue.uninstall()
    assert popped[0] == signal.SIGTERM
    assert popped.count(signal.SIGTERM) == 1
    assert popped.count(signal.SIGCHLD) >= 1


def test_signals_arriving_while_draining_are_kept_for_the_next_drain() -> None:
    queue = SignalQueue()
    queue.install()
    received: list[int] = []
    try:
        for round_no in range(200):
            _send(signal.SIGHUP)
            if round_no % 3 == 0:
                _send(signal.SIGTERM)
            received += queue.pop_all()
        received += queue.pop_all()
    finally:
        queue.uninstall()
    assert received.count(signal.SIGHUP) == 200
    assert received.count(signal.SIGTERM) == len(range(0, 200, 3))


def test_a_second_sigterm_is_not_merged_into_the_first() -> None:
    queue = SignalQueue()
    queue.install()
    try:
        _send(signal.SIGTERM)
        _send(signal.SIGTERM)
        popped = queue.pop_all()
    finally:
        queue.uninstall()
    assert popped == [signal.SIGTERM, signal.SIGTERM]
