"""Daemon lifecycle files: the lock that guards a runtime directory, daemon.json, daemon.pid."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from typing import Any

import orjson

from scoot import __version__
from scoot.errors import ScootError
from scoot.instance.home import Home
from scoot.records.files import atomic_write_bytes, atomic_write_json
from scoot.shared.terminal import utc
from scoot.shared.value_class import value_class
from scoot.supervise.procs import is_alive, start_time_of

STATE_FORMAT = "scoot.supervise.daemon.state.v1"
# A starting daemon waits this long for a lock that `daemon stop` may hold for a moment.
ACQUIRE_WAIT_SEC = 0.25


class AlreadyRunning(ScootError):
    """Another daemon holds this runtime directory's lock."""


def read_state(home: Home) -> tuple[dict[str, Any] | None, str | None]:
    """daemon.json as a dict, or (None, why) when missing or unreadable."""
    try:
        data = home.daemon_state.read_bytes()
    except FileNotFoundError:
        return None, "no daemon state recorded"
    except OSError as exc:
        return None, f"cannot read {home.daemon_state}: {exc.strerror}"
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None, f"{home.daemon_state} is corrupt (not JSON)"
    if not isinstance(value, dict) or value.get("format") != STATE_FORMAT:
        return None, f"{home.daemon_state} is not a {STATE_FORMAT} document"
    return value, None


def read_pid_file(home: Home) -> int | None:
    try:
        text = home.daemon_pid.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


@value_class
class Liveness:
    """What the lifecycle files say, checked against the process table."""

    state: dict[str, Any] | None
    state_problem: str | None
    pid_file_pid: int | None
    recorded_running: bool
    # The recorded pid runs, is the same process (start time matches) and the lock is
    # not free: the files can be stale or forged, but a running daemon always holds it.
    alive: bool
    agree: bool  # daemon.json says running with the pid in daemon.pid
    lock_held: bool | None  # None: the lock file cannot be opened to tell
    lock_problem: str | None = None  # why it cannot tell, or who holds it instead

    @property
    def pid(self) -> int | None:
        return _int(self.state.get("pid")) if self.state else None

    @property
    def stale(self) -> bool:
        return self.recorded_running and not self.alive


def probe(home: Home) -> Liveness:
    """What the files claim, and whether it is proven.

    `alive` means proven: the lock file is a regular file that is flock-held,
    the kernel names the recorded pid as its holder, and that pid is the same
    process (its start time matches the state). Anything less is not a
    daemon scoot may signal.
    """
    state, problem = read_state(home)
    pid_file_pid = read_pid_file(home)
    running = bool(state and state.get("status") == "running")
    pid = _int(state.get("pid")) if state else None
    started = _num(state.get("pid_start_time")) if state else None
    lock = DaemonLock(home)
    lock_held = lock.is_held_elsewhere()
    lock_problem = lock.problem
    alive = False
    if running and pid and lock_held is True:
        holders = lock.holders()
        if holders is None:
            lock_problem = "the kernel's lock table (/proc/locks) cannot be read"
        elif pid not in holders:
            lock_problem = f"the lock is held by pid {', '.join(map(str, sorted(holders))) or '?'}, not by pid {pid}"
        elif started is None:
            lock_problem = f"{home.daemon_state} records no start time for pid {pid}"
        else:
            alive = is_alive(pid, started)
    agree = bool(running and pid is not None and pid == pid_file_pid)
    return Liveness(state, problem, pid_file_pid, running, alive, agree, lock_held, lock_problem)


def flock_holders(dev: int, ino: int, table: str) -> set[int]:
    """Pids the kernel's lock table (/proc/locks text) names as FLOCK holders of (dev, ino)."""
    holders: set[int] = set()
    for line in table.splitlines():
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if int(inode) != ino or (int(major, 16), int(minor, 16)) != (
                os.major(dev),
                os.minor(dev),
            ):
                continue
            holders.add(int(fields[4]))
        except ValueError:
            continue
    return holders


class DaemonLock:
    """The non-blocking flock on state/daemon.lock, held for the daemon's whole life."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.fd: int | None = None
        self.problem: str | None = None  # why is_held_elsewhere could not tell
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) last probed

    def acquire(self, waiting_sec: float = ACQUIRE_WAIT_SEC) -> None:
        path = self.home.daemon_lock
        # O_CLOEXEC: no program a run starts inherits it; forked workers close it too.
        try:
            fd = os.open(
                path,
                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY,
                0o600,
            )
        except OSError as exc:
            raise ScootError(
                f"cannot open the daemon lock {path} ({exc.strerror}); "
                "it must be a regular file: remove what is there"
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ScootError(f"the daemon lock {path} is not a regular file; remove it")
        if not _flock_within(fd, waiting_sec):
            os.close(fd)
            state, _ = read_state(self.home)
            pid = state.get("pid") if state else read_pid_file(self.home)
            started = state.get("started_at_unix") if state else None
            started_text = utc(started)
            raise AlreadyRunning(
                f"[scoot] refusing to start: detected daemon already running "
                f"(pid={pid if pid is not None else '?'}, started {started_text}).\n"
                "Run `scoot daemon stop` first."
            ) from None
        self.fd = fd

    @contextlib.contextmanager
    def held_if_free(self) -> Iterator[bool]:
        """Hold the lock for a moment, if nobody does: True while held, False otherwise.

        Whoever rewrites a daemon's files from outside it does so only inside this,
        so a daemon starting at that moment never has its own files rewritten.
        """
        try:
            self.acquire(waiting_sec=0.0)
        except ScootError:
            yield False
            return
        try:
            yield True
        finally:
            self.release()

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def is_held_elsewhere(self) -> bool | None:
        """True when another process holds the lock; None (see `problem`) when that cannot be told.

        Only a regular file, not reached through a symlink, counts as the lock.
        """
        path = self.home.daemon_lock
        try:
            fd = os.open(
                path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
            )
        except FileNotFoundError:
            return False  # every daemon creates it: none runs here
        except OSError as exc:
            self.problem = f"{path} cannot be opened ({exc.strerror})"
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self.problem = f"{path} is not a regular file"
                return None
            self._identity = (st.st_dev, st.st_ino)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError as exc:
            self.problem = f"{path} cannot be locked ({exc.strerror})"
            return None
        finally:
            os.close(fd)
        return False

    def holders(self) -> set[int] | None:
        """Pids holding the lock file probed last, per /proc/locks; None when unreadable."""
        if self._identity is None:
            return None
        try:
            with open("/proc/locks", encoding="ascii", errors="replace") as handle:
                table = handle.read()
        except OSError:
            return None
        return flock_holders(*self._identity, table)


class StateFile:
    """Writes daemon.json and daemon.pid for the running daemon."""

    def __init__(self, home: Home, *, poll_ms: int, jobs: int, schedule_enabled: bool) -> None:
        self.home = home
        self.pid = os.getpid()
        self.pid_start_time = start_time_of(self.pid)
        self.started_at = time.time()
        self.poll_ms = poll_ms
        self.jobs = jobs
        self.schedule_enabled = schedule_enabled

    def _body(self, status: str, **extra: Any) -> dict[str, Any]:
        now = time.time()
        body: dict[str, Any] = {
            "format": STATE_FORMAT,
            "status": status,
            "pid": self.pid,
            "pid_start_time": self.pid_start_time,
            "started_at_unix": int(self.started_at),
            "updated_at_unix": int(now),
            "stopped_at_unix": None,
            "stop_reason": None,
            "schedule_enabled": self.schedule_enabled,
            "jobs": self.jobs,
            "poll_ms": self.poll_ms,
            "note": "",
            "version": __version__,
        }
        body.update(extra)
        return body

    def write_running(
        self, note: str = "", activity: dict[str, Any] | None = None, **extra: Any
    ) -> None:
        """`activity`: what the loop does now (runs, queue, next fires), for `daemon status`.

        Passed to each write, not kept: with ten thousand jobs it is half a MiB.
        """
        atomic_write_bytes(self.home.daemon_pid, f"{self.pid}\n".encode(), mode=0o644)
        body = self._body("running", **{**(activity or {}), "note": note, **extra})
        atomic_write_json(self.home.daemon_state, body)

    def write_stopped(self, stop_reason: str, note: str = "") -> None:
        body = self._body(
            "stopped", stop_reason=stop_reason, stopped_at_unix=int(time.time()), note=note
        )
        atomic_write_json(self.home.daemon_state, body)
        try:
            if read_pid_file(self.home) == self.pid:
                os.unlink(self.home.daemon_pid)
        except FileNotFoundError:
            pass


def _flock_within(fd: int, waiting_sec: float) -> bool:
    """Take the flock, retrying for waiting_sec (`daemon stop` holds it only for a moment)."""
    deadline = time.monotonic() + waiting_sec
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def remove_stale_pid_file(home: Home) -> bool:
    try:
        home.daemon_pid.unlink()
        return True
    except FileNotFoundError:
        return False


def mark_stale_state(home: Home, state: dict[str, Any]) -> None:
    """Record that a `running` state belonged to a process that is gone."""
    body = dict(state)
    body.update(
        status="stopped",
        stop_reason="unclean",
        stopped_at_unix=int(time.time()),
        updated_at_unix=int(time.time()),
        note="previous daemon exited without a clean stop",
    )
    atomic_write_json(home.daemon_state, body)
