"""The audit log writer: one JSON object per line, sequence-numbered, secrets redacted.

The parent process is the only writer for its runs. Several scoot processes
may share one runtime directory (a timer tick beside a daemon), so each
append takes an flock and `seq` stays strictly increasing across them.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from scoot.records.files import tail_objects
from scoot.records.outage import Outage
from scoot.shared.fdio import write_all
from scoot.shared.redaction import MARK, MIN_SECRET_CHARS, redact, secret_forms

# Agent step details left out of the log below level "info" (the session keeps them).
DETAIL_KINDS = frozenset({"thought", "observation"})
TAIL_BYTES = 64 * 1024


class Redactor:
    """Replaces every known secret value, and its common encodings, with a fixed marker."""

    MARK = MARK

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: list[str] = []
        self._forms: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= MIN_SECRET_CHARS and secret not in self._secrets:
            self._secrets.append(secret)
            forms = {*self._forms, *secret_forms(secret)}
            self._forms = sorted(forms, key=len, reverse=True)

    def text(self, value: str) -> str:
        return redact(value, self._forms)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def last_seq_in(path: Path) -> int:
    """The seq of the last whole line of an audit file (0 when none)."""
    for row in reversed(tail_objects(path, TAIL_BYTES)):
        seq = row.get("seq")
        if isinstance(seq, int):
            return seq
    return 0


def set_aside_torn_tail(path: Path) -> int:
    """Move a last line torn by a crash (no newline) to `<path>.torn`; return its size.

    Must be called with the log's flock held.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        os.lseek(fd, size - 1, os.SEEK_SET)
        if os.read(fd, 1) == b"\n":
            return 0
        start = max(0, size - TAIL_BYTES)
        os.lseek(fd, start, os.SEEK_SET)
        tail = os.read(fd, size - start)
        cut = tail.rfind(b"\n")
        keep = start + cut + 1 if cut >= 0 else (0 if start == 0 else size)
        if keep == size:
            return 0  # torn line longer than the window: leave it, readers skip it
        torn = tail[keep - start :]
        with open(str(path) + ".torn", "ab") as aside:
            aside.write(torn + b"\n")
            aside.flush()
            os.fsync(aside.fileno())
        os.ftruncate(fd, keep)
        os.fsync(fd)
        return len(torn)
    finally:
        os.close(fd)


def append_whole_line(path: Path, line: bytes, *, sync: bool = False) -> None:
    """Append one line so that `path` only ever holds whole lines.

    Must be called with the file's flock held. A last line torn by a crash
    is set aside to `<path>.torn` first (or the new line would be glued to
    it and both lost), and a write cut short (ENOSPC, EIO, the file size
    limit) is truncated back to where it started.
    """
    set_aside_torn_tail(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        write_line_or_nothing(fd, line, os.fstat(fd).st_size, sync=sync)
    finally:
        os.close(fd)


def write_line_or_nothing(fd: int, line: bytes, size: int, *, sync: bool = False) -> None:
    """Append `line` to a file of `size` bytes; on a short write, cut it back to `size`."""
    try:
        write_all(fd, line)
        if sync:
            os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, size)
        except OSError:
            pass
        raise


def append_record(path: Path, value: Any, *, sync: bool = False) -> None:
    """Append one JSON object as one whole line, under an flock on `<path>.lock`.

    Several scoot processes may append to the same file (a daemon and a
    timer's tick both write runs.jsonl); the lock keeps their lines whole.
    """
    line = orjson.dumps(value) + b"\n"
    lock = os.open(
        path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
    )
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        append_whole_line(path, line, sync=sync)
    finally:
        os.close(lock)


class AuditLog:
    """Appends audit events; `path=None` (audit.to_file = false) keeps them in memory only.

    Every append holds an flock on `<path>.lock` (a file that is never
    rotated), so appends from several processes, rotation and `seq` stay
    consistent. Before each write the descriptor is checked against the
    name: if another process rotated the file, it is reopened.
    """

    def __init__(
        self,
        path: Path | None,
        redactor: Redactor | None = None,
        *,
        level: str = "info",
        clock: Callable[[], float] = time.time,
        on_error: Callable[[str], None] | None = None,
        max_bytes: int = 0,
        keep: int = 5,
    ) -> None:
        self.path = path
        self.redactor = redactor or Redactor()
        self.level = level
        self._clock = clock
        self._on_error = on_error
        self.max_bytes = max_bytes  # 0: never rotate
        self.keep = keep
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._seq = 0
        self._known_size = -1
        self._synced = True  # nothing appended since the last fsync
        self.torn_bytes = 0
        self._outage = Outage(path.parent) if path is not None else None

    @property
    def lock_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".lock")

    def _lock(self) -> int:
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        return self._lock_fd

    def _current_fd(self) -> int:
        """The descriptor of the file now named `path` (reopened after a rotation)."""
        assert self.path is not None
        if self._fd is not None:
            try:
                if os.fstat(self._fd).st_ino == os.stat(self.path).st_ino:
                    return self._fd
            except FileNotFoundError:
                pass
            self.sync()  # what went to the file before its rotation is durable too
            os.close(self._fd)
            self._fd = None
            self._known_size = -1
        first_open = self.torn_bytes == 0 and self._known_size == -1
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if first_open:
            self.torn_bytes = set_aside_torn_tail(self.path)
        return self._fd

    def _last_seq(self) -> int:
        assert self.path is not None
        from scoot.records.retention import generation

        return last_seq_in(self.path) or last_seq_in(generation(self.path, 1))

    def event(
        self,
        kind: str,
        msg: str,
        *,
        session_id: str | None = None,
        run_id: str | None = None,
        **details: Any,
    ) -> dict[str, Any] | None:
        """Record one event; returns it (None when filtered by level)."""
        if kind in DETAIL_KINDS and self.level in ("warn", "error"):
            return None
        record: dict[str, Any] = {
            "seq": 0,
            "ts": int(self._clock() * 1000),
            "session_id": session_id,
            "run_id": run_id,
            "kind": kind,
            "msg": self.redactor.text(msg),
        }
        for key, value in details.items():
            if value is not None:
                record[key] = self.redactor.value(value)
        if self.path is None:
            self._seq += 1
            record["seq"] = self._seq
            return record
        try:
            lock = self._lock()
            try:
                self._append(record)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
            assert self._outage is not None
            if self._outage.succeeded():
                self._report(f"audit log {self.path} is writable again")
        except OSError as exc:
            self._known_size = -1
            assert self._outage is not None
            if self._outage.failed():
                self._report(
                    f"cannot write audit log {self.path}: {exc.strerror}; "
                    "events are lost until it recovers"
                )
        return record

    def _append(self, record: dict[str, Any]) -> None:
        """Write one line under the lock: rotate first if it would not fit, never half a line."""
        assert self.path is not None
        fd = self._current_fd()
        size = os.fstat(fd).st_size
        if size != self._known_size:
            self._seq = self._last_seq()
        record["seq"] = self._seq + 1
        line = orjson.dumps(record) + b"\n"
        if self.max_bytes and size and size + len(line) > self.max_bytes:
            from scoot.records.retention import gaps_path_for, rotate

            rotate(self.path, self.keep, gaps=gaps_path_for(self.path), stream="audit")
            fd = self._current_fd()
            size = 0
        write_line_or_nothing(fd, line, size)  # a short write (ENOSPC) leaves no half line
        self._synced = False
        self._seq += 1
        self._known_size = size + len(line)

    def _report(self, text: str) -> None:
        if self._on_error:
            self._on_error(text)

    def sync(self) -> None:
        """fsync at run boundaries, so a finished run's events survive a power cut.

        Nothing appended since the last one: no fsync.
        """
        if self._fd is not None and not self._synced:
            try:
                os.fsync(self._fd)
                self._synced = True
            except OSError:
                pass

    def close(self) -> None:
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


class SessionLog:
    """Appends one run's transcript to state/sessions/<session_id>.jsonl, rotating by size."""

    def __init__(
        self,
        directory: Path,
        redactor: Redactor,
        clock: Callable[[], float] = time.time,
        *,
        max_bytes: int = 0,
        keep: int = 5,
        gaps: Path | None = None,
    ) -> None:
        self.directory = directory
        self.redactor = redactor
        self._clock = clock
        self.max_bytes = max_bytes
        self.keep = keep
        self.gaps = gaps

    def path_of(self, session_id: str) -> Path:
        return self.directory / f"{session_id}.jsonl"

    def append(self, session_id: str, run_id: str, role: str, content: str) -> bool:
        record = {
            "ts": int(self._clock() * 1000),
            "run_id": run_id,
            "role": role,
            "content": self.redactor.text(content),
        }
        line = orjson.dumps(record) + b"\n"
        path = self.path_of(session_id)
        try:
            lock = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.max_bytes and self.gaps is not None:
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    size = 0
                if size and size + len(line) > self.max_bytes:
                    from scoot.records.retention import rotate

                    rotate(path, self.keep, gaps=self.gaps, stream=f"session:{session_id}")
            append_whole_line(path, line)
        except OSError:
            return False
        finally:
            os.close(lock)
        return True
