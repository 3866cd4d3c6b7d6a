"""The durable outbox: one file per undelivered notification or ping, under state/outbox/.

Each entry is written whole (temp, fsync, rename) before its first attempt,
rewritten after each failed attempt, and removed once delivered or abandoned,
so a process killed at any point leaves every undelivered entry behind for
the next one. Only the parent writes here; the courier only reports.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import orjson

from scoot.records.files import create_new_file
from scoot.shared.fdio import write_all
from scoot.supervise.procs import is_alive, start_time_of

_sequence = count(1)
FIRST_RETRY_SEC = 2.0
MAX_RETRY_SEC = 3600.0


def new_delivery_id(now: float) -> str:
    """Sortable by creation (milliseconds first), unique across processes."""
    return f"d{int(now * 1000):013d}-{os.getpid()}-{next(_sequence)}"


def retry_delay(attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff after `attempts` failed attempts, with +-50% jitter."""
    base = min(MAX_RETRY_SEC, FIRST_RETRY_SEC * 2.0 ** max(0, attempts - 1))
    return float(base * (0.5 + rand()))


def process_mark(pid: int | None = None) -> str:
    """A process as `pid:start time`, so a reused pid is not mistaken for its owner."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{start_time_of(pid) or 0.0:.2f}"


def mark_alive(mark: str) -> bool:
    """Whether the process a mark names still runs (the same one, not a reused pid)."""
    pid_text, _, started = mark.partition(":")
    try:
        pid, start = int(pid_text), float(started)
    except ValueError:
        return False
    # A start of 0 could not be read when the mark was made: it names no live process.
    return start > 0 and is_alive(pid, start)


def replace_file(path: Path, data: bytes, *, sync: bool) -> None:
    """Temp file, write, (fsync), rename: a reader sees the old file or the new one.

    Without the directory fsync of scoot.records.files.atomic_write_bytes: these writes
    sit on the loop's path, and what a power cut could lose is a rename, which
    is safe to lose here (a retry count, or an entry sent once more).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = create_new_file(tmp, 0o600)
    try:
        write_all(fd, data)
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


@dataclass
class Entry:
    """One undelivered notification (kind "notify") or ping (kind "ping")."""

    data: dict[str, Any]

    @property
    def delivery_id(self) -> str:
        return str(self.data["delivery_id"])

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", "notify"))


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, delivery_id: str) -> Path:
        return self.directory / f"{delivery_id}.json"

    def write(self, entry: Entry) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        replace_file(self.path_of(entry.delivery_id), orjson.dumps(entry.data) + b"\n", sync=True)

    def remove(self, entry: Entry) -> None:
        # No directory fsync: an entry that reappears after a power cut is sent
        # again, which at-least-once allows; it kept fsyncs off the loop.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path_of(entry.delivery_id))

    def load(self) -> tuple[list[Entry], int]:
        """Every entry, oldest first, and how many files could not be read."""
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(".json"))
        except FileNotFoundError:
            return [], 0
        entries: list[Entry] = []
        bad = 0
        for name in names:
            try:
                data = orjson.loads((self.directory / name).read_bytes())
            except (OSError, orjson.JSONDecodeError):
                bad += 1
                continue
            if isinstance(data, dict) and isinstance(data.get("delivery_id"), str):
                entries.append(Entry(data))
            else:
                bad += 1
        return entries, bad
