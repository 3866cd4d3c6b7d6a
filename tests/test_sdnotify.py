"""sd_notify over real unix datagram sockets, and the real daemon talking to one as systemd would."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scoot.supervise.sdnotify import Notifier
from scoot.testing.model_server import ScriptedModel
from tests.helpers import start_scoot, stop, write_config

UNIT_DIR = Path(__file__).resolve().parent.parent / "deploy" / "systemd"
Datagram = tuple[float, int, dict[str, str]]  # (monotonic arrival, sender pid, fields)


class NotifySocket:
    """The listening end systemd would own: a bound SOCK_DGRAM socket with sender credentials."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        bind_to = "\0" + address[1:] if address.startswith("@") else address
        self.sock.bind(bind_to)
        self.received: list[Datagram] = []

    def receive(self, timeout: float) -> Datagram | None:
        self.sock.settimeout(timeout)
        try:
            data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(12))
        except TimeoutError:
            return None
        pid = -1
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        fields = dict(line.split("=", 1) for line in data.decode().split("\n"))
        datagram = (time.monotonic(), pid, fields)
        self.received.append(datagram)
        return datagram

    def wait_for(self, predicate: Callable[[dict[str, str]], bool], timeout: float) -> Datagram:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            datagram = self.receive(left)
            if datagram is not None and predicate(datagram[2]):
                return datagram
        raise AssertionError(
            f"no matching datagram within {timeout} s; got {[d[2] for d in self.received]}"
        )

    def quiet_for(self, seconds: float) -> bool:
        return self.receive(seconds) is None

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifySocket]:
    path = tmp_path / "notify"
    assert len(str(path)) < 100, "unix socket paths are limited to 108 bytes"
    sock = NotifySocket(str(path))
    yield sock
    sock.close()


# --- the Notifier against a real socket -----------------------------------------------------


def test_ready_and_status_arrive_as_key_value_lines(listener: NotifySocket) -> None:
    notifier = Notifier(listener.address, None)
    assert notifier.send(READY=1, STATUS="2 jobs, 0 running")
    raw, _ = listener.sock.recvfrom(4096)
    assert raw == b"READY=1\nSTATUS=2 jobs, 0 running"


def test_abstract_socket_address(tmp_path: Path) -> None:
    name = f"@scoot-test-{os.getpid()}-{time.monotonic_ns()}"
    abstract = NotifySocket(name)
    try:
        assert Notifier(name, None).send(STOPPING=1)
        _, pid, fields = abstract.wait_for(lambda f: True, timeout=10)
        assert fields == {"STOPPING": "1"}
        assert pid == os.getpid()
    finally:
        abstract.close()


def test_watchdog_from_environment_pings_at_half_the_period(listener: NotifySocket) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "400000"})
    assert notifier.watchdog_interval() == pytest.approx(0.2)
    assert notifier.send(WATCHDOG=1, STATUS="ok")
    assert listener.wait_for(lambda f: True, timeout=10)[2] == {"WATCHDOG": "1", "STATUS": "ok"}


def test_watchdog_for_this_pid_is_enabled(listener: NotifySocket) -> None:
    env = {
        "NOTIFY_SOCKET": listener.address,
        "WATCHDOG_USEC": "30000000",
        "WATCHDOG_PID": str(os.getpid()),
    }
    assert Notifier.from_env(env).watchdog_interval() == pytest.approx(15.0)


def test_watchdog_meant_for_another_pid_is_ignored(listener: NotifySocket) -> None:
    env = {
        "NOTIFY_SOCKET": listener.address,
        "WATCHDOG_USEC": "400000",
        "WATCHDOG_PID": str(os.getpid() + 1),
    }
    notifier = Notifier.from_env(env)
    assert notifier.watchdog_interval() is None
    assert notifier.send(WATCHDOG=1) is False
    assert listener.quiet_for(0.1)
    # Other fields of the same call still go out, without the ping.
    assert notifier.send(WATCHDOG=1, STATUS="x")
    assert listener.wait_for(lambda f: True, timeout=10)[2] == {"STATUS": "x"}


@pytest.mark.parametrize("value", ["", "0", "abc", "-5", "1.5"])
def test_unusable_watchdog_period_disables_the_watchdog(listener: NotifySocket, value: str) -> None:
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": value}
    assert Notifier.from_env(env).watchdog_interval() is None


def test_without_notify_socket_sending_is_a_no_op() -> None:
    notifier = Notifier.from_env({})
    assert notifier.address is None
    assert notifier.send(READY=1) is False
    assert notifier.failures == 0


def test_unreachable_socket_is_counted_not_raised(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "nobody-listens"), None)
    assert notifier.send(READY=1) is False
    assert notifier.send(STATUS="still fine") is False
    assert notifier.failures == 2


def test_a_newline_in_a_value_cannot_inject_another_field(listener: NotifySocket) -> None:
    assert Notifier(listener.address, None).send(STATUS="job says\nREADY=1")
    raw, _ = listener.sock.recvfrom(4096)
    assert raw == b"STATUS=job says READY=1"


# --- the daemon as systemd sees it -----------------------------------------------------------


def test_daemon_notifies_ready_watchdog_reload_and_stop(
    tmp_path: Path, listener: NotifySocket
) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "ok"}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            jobs=[{"id": "hourly", "goal": "say ok", "every_sec": 3600}],
        )
        proc = start_scoot(
            home, "daemon", "run", NOTIFY_SOCKET=listener.address, WATCHDOG_USEC="2000000"
        )
        try:
            listener.wait_for(lambda f: f.get("READY") == "1", timeout=10)
            assert (home / "state" / "daemon.lock").exists()

            # The loop itself pings at half of WATCHDOG_USEC (2 s here: room for a
            # loaded machine, where the whole period is what systemd would enforce).
            first = listener.wait_for(lambda f: f.get("WATCHDOG") == "1", timeout=5)
            pings = [first[0]]
            while len(pings) < 5:
                pings.append(listener.wait_for(lambda f: f.get("WATCHDOG") == "1", timeout=5)[0])
            gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
            assert 0.5 <= statistics.median(gaps) <= 1.5, gaps
            assert max(gaps) < 2.0, f"a gap reached the whole watchdog period: {gaps}"
            assert any("STATUS" in fields for _, _, fields in listener.received)

            # `systemctl reload` runs the unit's ExecReload with $MAINPID set: run that very line.
            reload_line = (UNIT_DIR / "scoot.service").read_text().split("\nExecReload=")[1]
            reload_argv = reload_line.split("\n")[0].replace("$MAINPID", str(proc.pid)).split()
            assert subprocess.run(reload_argv, timeout=10, check=False).returncode == 0
            listener.wait_for(lambda f: f.get("RELOADING") == "1", timeout=5)
            listener.wait_for(lambda f: f.get("READY") == "1", timeout=5)

            proc.send_signal(signal.SIGTERM)
            _, _, stopping = listener.wait_for(lambda f: f.get("STOPPING") == "1", timeout=5)
            assert int(stopping["EXTEND_TIMEOUT_USEC"]) > 0
            assert proc.wait(timeout=10) == 0
        finally:
            out, err = stop(proc)
    order = [
        next(iter(key for key in ("READY", "RELOADING", "STOPPING") if key in fields))
        for _, _, fields in listener.received
        if {"READY", "RELOADING", "STOPPING"} & fields.keys()
    ]
    assert order == ["READY", "RELOADING", "READY", "STOPPING"], order
    # What journalctl shows: the daemon's own lines on stdout.
    assert "[scoot] daemon started" in out and "[scoot] daemon stopped" in out, out
    # NotifyAccess=main: every datagram must come from the daemon process itself.
    assert {pid for _, pid, _ in listener.received} == {proc.pid}, (out, err)
