"""A loop that runs until stopped wakes for due instants and clock sets, not every poll.

The rules (when a poll is worth a wake, when the timer is set again, when the
outbox next needs a pump) are pure and tested with injected numbers; the
timer is a real timerfd, and the daemons are real `scoot daemon run`
processes, whose wakes are counted by the kernel (context switches) and
whose timer is read from /proc/PID/fdinfo.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import selectors
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from scoot.notify.deliveries import next_pump_in
from scoot.notify.outbox import Entry
from scoot.supervise.loop import MAX_SLEEP_SEC, sleep_for
from scoot.supervise.poller import poll_wait
from scoot.supervise.wallclock import FAR_AHEAD_SEC, WallClockWatch, rearm_needed
from tests.faults.support import daemon_state, start_daemon
from tests.helpers import runs, stop, wait_for, write_config
from tests.receiver import Receiver

CLOCK_LOCK = "/tmp/scoot-clock-tests.lock"

# --- the rules -------------------------------------------------------------------------


def test_counting_ticks_or_unwatched_clock_polls_every_poll() -> None:
    assert poll_wait(0.4, counting=True, clock_watched=True, wanted=[]) == 0.4
    assert poll_wait(0.4, counting=False, clock_watched=False, wanted=[]) == 0.4


def test_a_watched_loop_polls_only_when_something_wants_it_and_on_the_grid() -> None:
    assert poll_wait(0.4, counting=False, clock_watched=True, wanted=[]) is None
    assert poll_wait(0.4, counting=False, clock_watched=True, wanted=[0.0]) == 0.4
    assert poll_wait(0.4, counting=False, clock_watched=True, wanted=[9.0, 30.0]) == 9.0
    assert poll_wait(-2.0, counting=False, clock_watched=True, wanted=[3.0]) == 3.0


def test_the_timer_is_set_again_only_when_its_instant_changes() -> None:
    assert rearm_needed(None, float("inf"))
    assert rearm_needed(None, 100.0)
    assert not rearm_needed(100.0, 100.0)
    assert rearm_needed(100.0, 160.0)
    assert not rearm_needed(100.0, float("inf"))  # armed: a clock set cancels it anyway


def _entry(delivery_id: str, **data: object) -> Entry:
    return Entry({"delivery_id": delivery_id, "created_at": 1000.0, "next_at": 0, **data})


def test_the_outbox_wants_a_pump_for_its_earliest_attempt_or_give_up() -> None:
    assert next_pump_in([], [], 1000.0, 3600) is None
    assert next_pump_in([_entry("a")], ["a"], 1000.0, 3600) == 0.0  # a result to read
    assert next_pump_in([_entry("a")], [], 1000.0, 3600) == 0.0  # a first attempt
    retry = _entry("a", next_at=1030.0)
    assert next_pump_in([retry], [], 1000.0, 3600) == 30.0
    old = _entry("a", next_at=9000.0)
    assert next_pump_in([old], [], 1000.0, 3600) == 3600.0  # given up before its retry


def test_a_ping_behind_its_elder_waits_for_it() -> None:
    elder = _entry("d1", kind="ping", job_id="j", next_at=1060.0)
    younger = _entry("d2", kind="ping", job_id="j", next_at=0)
    assert next_pump_in([younger, elder], [], 1000.0, 3600) == 60.0
    other_job = _entry("d3", kind="ping", job_id="k", next_at=0)
    assert next_pump_in([younger, elder, other_job], [], 1000.0, 3600) == 0.0


# --- the timer -------------------------------------------------------------------------


@pytest.fixture
def clock_alone() -> Iterator[None]:
    """Tests that set the clock, or that a set would wake, take turns (pytest -n runs them
    side by side): a set cancels every such timer on the machine."""
    with open(CLOCK_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def test_the_longest_sleep_is_bounded() -> None:
    assert sleep_for([40 * 86400.0], [], 0.0) == MAX_SLEEP_SEC  # epoll's limit is ~24.8 days
    assert sleep_for([], [5.0], 2.0) == 3.0
    assert sleep_for([], [None], 2.0) == 1.0


def _watch(clock: Callable[[], float] = time.time) -> tuple[WallClockWatch, Any, list[str]]:
    warned: list[str] = []
    watch = WallClockWatch(clock, warned.append)
    assert not watch.watching  # the timer is made when the loop opens
    selector = selectors.DefaultSelector()
    watch.attach(selector)
    assert watch.watching
    return watch, selector, warned


def test_the_timer_expires_at_its_wall_instant_and_is_taken_once(clock_alone: None) -> None:
    watch, selector, warned = _watch()
    try:
        instant = time.time() + 0.2
        watch.arm(instant)
        assert watch.armed_at == instant
        watch.arm(instant)  # the same instant: not set again
        deadline = time.monotonic() + 5
        while not watch.expiries and time.monotonic() < deadline:
            for key, mask in selector.select(1.0):
                key.data(mask)
            if not watch.expiries:  # cancelled by a clock set elsewhere (another test)
                watch.arm(instant)
        assert watch.expiries == 1, "the timer did not expire"
        assert watch.armed_at is None  # the next arm sets it again
        assert time.time() >= instant
        watch.arm(None)
        assert watch.armed_at is not None and watch.armed_at > time.time() + FAR_AHEAD_SEC - 60
        assert selector.select(0.1) == []
    finally:
        watch.close()
        selector.close()
    assert not watch.watching and warned == []


def test_an_injected_clock_is_carried_over_to_the_system_clock(clock_alone: None) -> None:
    """A loop clock an hour behind: its instant 0.3 s ahead is 0.3 s ahead, not long past."""
    watch, selector, _ = _watch(lambda: time.time() - 3600)
    try:
        watch.arm(time.time() - 3600 + 0.3)
        assert selector.select(0.1) == []
        deadline = time.monotonic() + 5
        while not watch.expiries and time.monotonic() < deadline:
            for key, mask in selector.select(1.0):
                key.data(mask)
            if not watch.expiries:
                watch.arm(watch.armed_at or time.time() - 3600 + 0.3)
        assert watch.expiries == 1
    finally:
        watch.close()
        selector.close()


def _set_clock_to_now() -> None:
    """Set the wall clock to what it reads (10 us ahead: never a step back for others)."""
    try:
        time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME) + 1e-5)
    except PermissionError:
        pytest.skip("setting the clock needs CAP_SYS_TIME, which this process has not")
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            pytest.skip("setting the clock is not permitted here")
        raise


def test_a_clock_set_cancels_the_timer_and_wakes_its_selector(clock_alone: None) -> None:
    watch, selector, warned = _watch()
    try:
        watch.arm(time.time() + 3600)
        assert selector.select(0.05) == []
        _set_clock_to_now()
        ready = selector.select(5.0)
        assert ready, "a clock set did not wake the selector"
        for key, mask in ready:
            key.data(mask)
        assert watch.clock_sets == 1 and watch.expiries == 0
        assert watch.armed_at is None
        watch.arm(time.time() + 3600)
        assert selector.select(0.05) == []  # set again, it waits once more
    finally:
        watch.close()
        selector.close()
    assert warned == []


def test_a_clock_set_before_the_timer_is_set_again_asks_for_a_decision_at_once(
    clock_alone: None,
) -> None:
    """The set lands in a pass (after the read, before the next arm): setting the timer
    fails with ECANCELED, and the watch keeps watching and says so."""
    watch, selector, warned = _watch()
    try:
        watch.arm(time.time() + 3600)
        _set_clock_to_now()
        assert watch.arm(time.time() + 1800) is True
        assert watch.watching and watch.clock_sets == 1 and warned == []
        assert watch.armed_at is not None
        for key, mask in selector.select(1.0):  # the cancel may still be pending: taken
            key.data(mask)
        watch.arm(time.time() + 1800)
        assert watch.watching
    finally:
        watch.close()
        selector.close()


# --- real daemons ----------------------------------------------------------------------


def _timerfd_value(pid: int) -> tuple[int, float]:
    """(ticks, seconds until it expires) of the process's CLOCK_REALTIME timerfd."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[timerfd]":
                continue
            info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        if re.search(r"^clockid:\s*0$", info, re.M):
            ticks = int(re.search(r"^ticks:\s*(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
            sec, nsec = re.search(r"it_value:\s*\((\d+),\s*(\d+)\)", info).groups()  # type: ignore[union-attr]
            return ticks, int(sec) + int(nsec) / 1e9
    raise AssertionError(f"process {pid} has no CLOCK_REALTIME timerfd")


def _wakes_over(pid: int, seconds: float) -> int:
    process = psutil.Process(pid)
    before = process.num_ctx_switches().voluntary
    time.sleep(seconds)
    return process.num_ctx_switches().voluntary - before


@pytest.mark.timeout(60)
def test_an_idle_daemon_sleeps_until_its_next_due_instant(tmp_path: Path) -> None:
    home = tmp_path / "home"
    due = time.time() + 3600
    write_config(home, jobs=[{"id": "later", "goal": "g", "at_unix": due}])  # poll_ms = 100
    daemon = start_daemon(home)
    try:
        time.sleep(1.0)  # settled: the first publish and the outbox scan are done
        wakes = _wakes_over(daemon.pid, 3.0)
        # Waking every poll would be 30 wakes; the daemon has nothing to do in these 3 s.
        assert wakes < 10, wakes
        ticks, remaining = _timerfd_value(daemon.pid)
        assert ticks == 0
        assert abs(remaining - (due - time.time())) < 5, remaining  # armed at the due instant
    finally:
        out, err = stop(daemon)
    assert daemon.returncode == 0, err


@pytest.mark.timeout(60)
def test_a_clock_set_wakes_the_daemon_which_sets_its_timer_again(
    tmp_path: Path, clock_alone: None
) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "later", "goal": "g", "at_unix": time.time() + 3600}])
    daemon = start_daemon(home)
    try:
        time.sleep(1.0)
        before = psutil.Process(daemon.pid).num_ctx_switches().voluntary
        _set_clock_to_now()
        # The kernel counts the cancel as a tick of the timer until the daemon reads it.
        wait_for(lambda: psutil.Process(daemon.pid).num_ctx_switches().voluntary > before)
        wait_for(lambda: _timerfd_value(daemon.pid)[0] == 0)
        _, remaining = _timerfd_value(daemon.pid)
        assert 3500 < remaining <= 3600, remaining
        assert daemon.poll() is None
    finally:
        out, err = stop(daemon)
    assert daemon.returncode == 0, err


@pytest.mark.timeout(90)
def test_a_due_run_fires_notifies_retries_and_is_published_between_polls(tmp_path: Path) -> None:
    """Every tick observer still gets its polls when it wants them: the outbox's first
    attempt and retry, and daemon.json after a run that ended right after it started."""
    from scoot.testing.model_server import ScriptedModel

    home = tmp_path / "home"
    replies = iter([503, 200])
    with (
        ScriptedModel({"default": [{"final": "done"}]}) as model,
        Receiver(lambda _r: next(replies, 200)) as receiver,
    ):
        instant = time.time() + 3
        write_config(
            home,
            base_url=model.base_url,
            jobs=[
                {
                    "id": "soon",
                    "goal": "g",
                    "at_unix": instant,
                    "notify": ["ops"],
                    "notify_on": ["success"],
                },
                {"id": "later", "goal": "g", "at_unix": instant + 3600},
            ],
            schedule={"poll_ms": 500},
            sections={"notify.ops": {"url": f"{receiver.url}/hook", "timeout_sec": 2}},
        )
        daemon = start_daemon(home)
        try:
            wait_for(lambda: len(receiver.posts()) == 2, timeout=30)
            ended = runs(home)
            assert [row["status"] for row in ended] == ["ok"]
            state = wait_for(
                lambda: (s := daemon_state(home)) and not s.get("runs") and s, timeout=10
            )
            assert "soon" not in state["next_fires"] and "later" in state["next_fires"]
            time.sleep(0.5)
            assert _wakes_over(daemon.pid, 2.0) < 10  # idle again after the run
        finally:
            out, err = stop(daemon)
    assert daemon.returncode == 0, err
    first, second = receiver.posts()
    assert [first.json["attempt"], second.json["attempt"]] == [1, 2]
    assert second.at - first.at >= 0.9  # the retry's backoff, 2 s +-50%
    assert first.at >= instant  # fired at its instant, not before
