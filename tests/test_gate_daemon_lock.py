"""`daemon stop` signals a pid only when it is proven to be the daemon holding this lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from scoot.supervise.lifecycle import flock_holders
from scoot.testing.model_server import ScriptedModel
from tests.helpers import pid_alive, run_scoot, start_scoot, stop, wait_for, write_config

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def forge_state(home: Path, pid: int, start_time: float | None) -> None:
    (home / "state").mkdir(parents=True, exist_ok=True)
    body = {
        "format": "scoot.supervise.daemon.state.v1",
        "status": "running",
        "pid": pid,
        "pid_start_time": start_time,
        "started_at_unix": int(time.time()) - 10,
    }
    (home / "state" / "daemon.json").write_text(json.dumps(body))
    (home / "state" / "daemon.pid").write_text(f"{pid}\n")


def bystander() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_lock_that_is_a_directory_never_leads_to_a_signal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    other = bystander()
    try:
        for pid, started in ((1, psutil.Process(1).create_time()), (other.pid, None)):
            forge_state(home, pid, started or psutil.Process(other.pid).create_time())
            lock = home / "state" / "daemon.lock"
            if not lock.is_dir():
                lock.mkdir()
            done = run_scoot(home, "daemon", "stop")
            assert done.returncode == 1, done.stdout
            (line,) = done.stderr.strip().splitlines()
            assert f"refusing to signal pid {pid}" in line and "Is a directory" in line
            assert "nobody was signalled" in line
            status = json.loads(run_scoot(home, "daemon", "status", "--json").stdout)
            assert status["verdict"] == "unproven" and not status["alive"]
        time.sleep(0.2)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_lock_held_by_someone_else_than_the_recorded_pid_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    (home / "state").mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(home / "state" / "daemon.lock")],
        stdout=subprocess.PIPE,
    )
    other = bystander()
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        forge_state(home, other.pid, psutil.Process(other.pid).create_time())
        done = run_scoot(home, "daemon", "stop")
        assert done.returncode == 1
        assert f"held by pid {holder.pid}, not by pid {other.pid}" in done.stderr
        time.sleep(0.2)
        assert other.poll() is None and holder.poll() is None
    finally:
        for proc in (holder, other):
            proc.kill()
            proc.wait()


def test_a_symlinked_lock_is_not_the_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    other = bystander()
    try:
        forge_state(home, other.pid, psutil.Process(other.pid).create_time())
        (home / "state" / "daemon.lock").symlink_to(tmp_path / "elsewhere.lock")
        done = run_scoot(home, "daemon", "stop")
        assert done.returncode == 1 and "refusing to signal" in done.stderr
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_the_lock_table_reader_names_holders_not_waiters() -> None:
    dev = os.makedev(8, 1)
    table = (
        "1: FLOCK  ADVISORY  WRITE 4242 08:01:777 0 EOF\n"
        "1: -> FLOCK  ADVISORY  WRITE 5151 08:01:777 0 EOF\n"
        "2: POSIX  ADVISORY  WRITE 6161 08:01:777 0 EOF\n"
        "3: FLOCK  ADVISORY  WRITE 7171 08:02:777 0 EOF\n"
        "4: FLOCK  ADVISORY  WRITE 8181 08:01:778 0 EOF\n"
    )
    assert flock_holders(dev, 777, table) == {4242}


def test_a_real_daemon_is_proven_and_stopped(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "ok"}]}) as model:
        write_config(
            home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "cron": "0 0 1 1 *"}]
        )
        proc = start_scoot(home, "daemon", "run")
        try:
            wait_for(
                lambda: (
                    json.loads(run_scoot(home, "daemon", "status", "--json").stdout)["verdict"]
                    == "running"
                ),
                timeout=30,
            )
            done = run_scoot(home, "daemon", "stop", "--wait")
            assert done.returncode == 0, done.stderr
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                stop(proc)


def test_nothing_a_run_started_holds_the_lock_after_a_daemon_crash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = {
        "default": [
            {
                "action": "bash",
                "action_input": json.dumps(
                    {
                        "command": "setsid sh -c 'echo $$ > left.pid; exec sleep 60' "
                        "</dev/null >/dev/null 2>&1 & sleep 0.5; echo launched"
                    }
                ),
            },
            {"final": "left something behind"},
        ]
    }
    with ScriptedModel(script) as model:
        write_config(
            home,
            base_url=model.base_url,
            jobs=[{"id": "leaver", "goal": "g", "every_sec": 3600, "mode": "unrestricted"}],
        )
        proc = start_scoot(home, "daemon", "run")
        left_pid = 0
        try:
            pid_file = home / "work" / "leaver" / "left.pid"
            wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=30)
            left_pid = int(pid_file.read_text())
            assert pid_alive(left_pid)
            lock = os.path.realpath(home / "state" / "daemon.lock")
            fds = [
                os.readlink(f"/proc/{left_pid}/fd/{fd}")
                for fd in os.listdir(f"/proc/{left_pid}/fd")
            ]
            assert lock not in fds
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            assert pid_alive(left_pid)  # the leftover outlives the daemon ...
            status = json.loads(run_scoot(home, "daemon", "status", "--json").stdout)
            assert status["verdict"] == "stale" and status["lock_held"] is False
            # ... yet a new daemon starts, and sweeps it.
            again = start_scoot(home, "daemon", "run")
            try:
                wait_for(
                    lambda: (
                        json.loads(run_scoot(home, "daemon", "status", "--json").stdout)["verdict"]
                        == "running"
                    ),
                    timeout=30,
                )
            finally:
                stop(again)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if left_pid and pid_alive(left_pid):
                os.kill(left_pid, signal.SIGKILL)


def test_a_daemon_refuses_to_start_on_a_lock_that_is_not_a_regular_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    (home / "state" / "daemon.lock").mkdir(parents=True)
    done = run_scoot(home, "daemon", "run", timeout=20)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "daemon lock" in line and "internal error" not in line
