"""The loop's stall watch: a stop shows as a late wake or as a long pass."""

from __future__ import annotations

import os
import selectors
import time
from pathlib import Path

import pytest

from scoot.instance.open import open_instance
from scoot.records.audit import AuditLog, Redactor, SessionLog
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.supervise.loop import STALL_AFTER_SEC, Loop, StallWatch
from tests.helpers import audit, write_config


@pytest.mark.timeout(10)
def test_a_wake_on_time_or_early_is_no_stall() -> None:
    watch = StallWatch()
    assert watch.woke(100.0) is None  # the first pass: nothing was planned
    assert watch.sleeping(100.1, 0.5) is None
    assert watch.woke(100.6) is None  # on time
    assert watch.sleeping(100.7, 60.0) is None
    assert watch.woke(101.0) is None  # early: a pipe was readable


@pytest.mark.timeout(10)
def test_a_stop_during_the_wait_is_a_late_wake() -> None:
    watch = StallWatch()
    watch.woke(100.0)
    watch.sleeping(100.1, 0.5)  # meant to wake by 100.6; stopped for 5 s
    assert watch.woke(105.2) == pytest.approx((4.6, "woke that late"))


@pytest.mark.timeout(10)
def test_a_stop_during_a_pass_is_a_long_pass() -> None:
    watch = StallWatch()
    watch.woke(100.0)
    # Stopped for 5 s while it worked: it woke on time, the pass took the stop.
    stall = watch.sleeping(105.3, 0.5)
    assert stall == pytest.approx((5.3, "one pass took that long"))
    assert watch.woke(105.8) is None  # and the wait after it is on time


@pytest.mark.timeout(10)
def test_the_threshold_is_a_strict_bound() -> None:
    watch = StallWatch()
    watch.woke(0.0)
    assert watch.sleeping(STALL_AFTER_SEC, 1.0) is None
    watch.woke(STALL_AFTER_SEC + 1.0)
    assert watch.sleeping(2 * STALL_AFTER_SEC + 1.01, 1.0) is not None


@pytest.mark.timeout(10)
def test_the_last_pass_is_measured_though_no_wait_follows() -> None:
    watch = StallWatch()
    watch.woke(100.0)
    assert watch.pass_ended(100.2) is None
    watch.woke(101.0)
    assert watch.pass_ended(106.0) == pytest.approx((5.0, "one pass took that long"))
    assert watch.pass_ended(107.0) is None  # measured once


@pytest.mark.timeout(30)
def test_a_real_loop_counts_reading_what_woke_it_as_part_of_the_pass(tmp_path: Path) -> None:
    """A frame wakes the loop early; reading it blocks past the threshold (a stop there)."""
    write_config(tmp_path)
    instance = open_instance(str(tmp_path))
    redactor = Redactor()
    warned: list[str] = []
    recorder = Recorder(
        instance.home,
        AuditLog(instance.home.audit_log, redactor),
        SessionLog(instance.home.sessions, redactor),
        warn=warned.append,
    )
    loop = Loop(None, recorder, RunLog(warned.append, warned.append))
    frames_r, frames_w = os.pipe()
    loop.open()
    try:
        loop.selector.register(frames_r, selectors.EVENT_READ, ("run", "frames"))
        os.write(frames_w, b"x")

        def reading(_run: str, _which: str) -> None:
            os.read(frames_r, 1)
            time.sleep(STALL_AFTER_SEC + 0.3)

        loop.wait(2.0, reading)  # meant to wake by 2 s from now; woken at once
        loop.wait(0.0, lambda *_keys: None)  # the pass that read the frame ends
    finally:
        loop.close()
        os.close(frames_r)
        os.close(frames_w)
    stalls = [row for row in audit(tmp_path) if row["kind"] == "daemon_stalled"]
    assert len(stalls) == 1, stalls
    assert stalls[0]["stalled_sec"] >= STALL_AFTER_SEC + 0.3
    assert any("one pass took that long" in line for line in warned), warned
