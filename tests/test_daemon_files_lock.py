"""`daemon stop` rewrites a daemon's files only while it holds the daemon lock itself."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import run_scoot, write_config

# Stands in for a daemon between taking its lock and publishing daemon.json.
HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def hold_lock(home: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(home / "state" / "daemon.lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def write_stopped_state(home: Path) -> dict[str, object]:
    body: dict[str, object] = {
        "format": "scoot.supervise.daemon.state.v1",
        "status": "stopped",
        "pid": 999999,
        "stop_reason": "SIGTERM",
        "started_at_unix": int(time.time()) - 100,
    }
    (home / "state" / "daemon.json").write_text(json.dumps(body))
    return body


def test_stop_keeps_the_pid_file_of_a_daemon_that_is_starting(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    (home / "state").mkdir(parents=True, exist_ok=True)
    holder = hold_lock(home)
    try:
        write_stopped_state(home)
        pid_file = home / "state" / "daemon.pid"
        pid_file.write_text(f"{holder.pid}\n")
        done = run_scoot(home, "daemon", "stop")
        assert done.returncode == 0, done.stderr
        assert "no daemon running" in done.stdout
        assert "removed a stale pid file" not in done.stdout
        assert pid_file.read_text() == f"{holder.pid}\n"
    finally:
        holder.kill()
        holder.wait()


def test_stop_removes_a_stale_pid_file_when_nobody_holds_the_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    (home / "state").mkdir(parents=True, exist_ok=True)
    write_stopped_state(home)
    pid_file = home / "state" / "daemon.pid"
    pid_file.write_text("999999\n")
    done = run_scoot(home, "daemon", "stop")
    assert done.returncode == 0, done.stderr
    assert "removed a stale pid file" in done.stdout
    assert not pid_file.exists()


def test_stop_reconciles_a_stale_running_state_once_the_lock_is_free(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    (home / "state").mkdir(parents=True, exist_ok=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    body = {
        "format": "scoot.supervise.daemon.state.v1",
        "status": "running",
        "pid": gone.pid,
        "pid_start_time": 1.0,
        "started_at_unix": int(time.time()) - 10,
    }
    (home / "state" / "daemon.json").write_text(json.dumps(body))
    (home / "state" / "daemon.pid").write_text(f"{gone.pid}\n")
    done = run_scoot(home, "daemon", "stop")
    assert done.returncode == 0, done.stderr
    assert "stale" in done.stdout
    state = json.loads((home / "state" / "daemon.json").read_text())
    assert state["status"] == "stopped" and state["stop_reason"] == "unclean"
    assert not (home / "state" / "daemon.pid").exists()
