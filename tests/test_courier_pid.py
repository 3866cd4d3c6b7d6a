"""The courier is ended only while its pid is still the courier: the loop's reaper may take it first."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from scoot.notify.courier import Courier
from scoot.supervise.reaper import reap_children


@pytest.mark.timeout(30)
def test_a_courier_reaped_elsewhere_leaves_the_process_now_on_its_pid_alone() -> None:
    courier = Courier()
    pid = courier.start()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid not in [child.pid for child in reap_children()[0]]:
        assert time.monotonic() < deadline, "the killed courier was never reaped"
        time.sleep(0.01)
    # Its pid now names another child of this process, as after a reuse.
    time.sleep(0.05)  # started at least a clock tick later
    other = subprocess.Popen(["sleep", "30"])
    try:
        courier.pid = other.pid
        started = time.monotonic()
        courier.stop()
        assert time.monotonic() - started < 5  # no wait on a process that is not the courier
        assert other.poll() is None  # and no signal to it
        assert not courier.running
    finally:
        other.kill()
        other.wait()


@pytest.mark.timeout(30)
def test_a_live_courier_is_killed_and_reaped_by_stop() -> None:
    courier = Courier()
    pid = courier.start()
    courier.stop()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped by stop
    assert not courier.running
