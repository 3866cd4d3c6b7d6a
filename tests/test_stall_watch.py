"""The loop's stall watch: a stop shows as a late wake or as a long pass (times injected)."""

from __future__ import annotations

import pytest

from scoot.supervise.loop import STALL_AFTER_SEC, StallWatch


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
