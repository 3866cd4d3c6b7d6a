"""The ledger's journal: each transaction's changed entries, one line appended per commit.

`state/ledger.journal` holds, after a header line naming the ledger.json it
continues (by that file's `journal` token), one line per committed
transaction: the entries it changed, whole (`null` for a removed one).
Applying the lines in order to ledger.json gives the ledger. Lines replace
entries rather than edit them, so applying one twice changes nothing.

A line is appended with one write and one fsync, under the ledger's lock. A
last line without its newline was cut by a crash before its fsync returned:
it was never committed, readers skip it and the next writer cuts it off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from scoot.records.files import fsync_dir
from scoot.schedule.ledger_entries import ENCODE_OPTIONS, JobEntry, encode_default
from scoot.shared.fdio import write_all

JOURNAL_FORMAT = "scoot.schedule.ledger.journal.v1"


@dataclass
class JournalRead:
    """What a read of the journal from some offset found."""

    changes: list[dict[str, Any]] = field(default_factory=list)  # each line's jobs table
    end: int = 0  # the offset after the last whole line read
    damaged: bool = False  # a whole line that is not a journal line: nothing after it counts


def header_line(token: str) -> bytes:
    return orjson.dumps({"format": JOURNAL_FORMAT, "base": token}) + b"\n"


def change_line(changes: Mapping[str, JobEntry | None]) -> bytes:
    """One transaction's line: the entries it changed by job id, None for those removed."""
    return orjson.dumps({"jobs": changes}, default=encode_default, option=ENCODE_OPTIONS) + b"\n"


def journal_base(first_line: bytes) -> str | None:
    """The token of the ledger.json a journal continues, from its header line."""
    try:
        value = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict) or value.get("format") != JOURNAL_FORMAT:
        return None
    base = value.get("base")
    return base if isinstance(base, str) else None


def read_journal(data: bytes, offset: int) -> JournalRead:
    """The transactions in `data` (the journal's bytes from `offset`), oldest first."""
    found = JournalRead(end=offset)
    position = 0
    while True:
        cut = data.find(b"\n", position)
        if cut < 0:
            return found  # nothing more, or a line cut short by a crash: not committed
        try:
            value = orjson.loads(data[position:cut])
        except orjson.JSONDecodeError:
            value = None
        jobs = value.get("jobs") if isinstance(value, dict) else None
        if not isinstance(jobs, dict):
            found.damaged = True
            return found
        found.changes.append(jobs)
        position = cut + 1
        found.end = offset + position


def create_journal(path: Path, token: str, first: bytes) -> tuple[int, int]:
    """Write a new journal (header and first transaction) and make its name durable.

    Called under the ledger's lock; returns the journal's size and inode.
    """
    data = header_line(token) + first
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
        inode = os.fstat(fd).st_ino
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    return len(data), inode


def append_journal(path: Path, line: bytes, committed_end: int) -> int:
    """Append one transaction after the last committed line; returns the journal's size.

    Called under the ledger's lock. Whatever follows `committed_end` (a line a
    crash cut short) is cut off first, and a failed write is cut back, so the
    journal only ever holds whole lines.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        if os.fstat(fd).st_size != committed_end:
            os.ftruncate(fd, committed_end)
        os.lseek(fd, committed_end, os.SEEK_SET)
        try:
            write_all(fd, line)
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, committed_end)
            except OSError:
                pass
            raise
    finally:
        os.close(fd)
    return committed_end + len(line)
