"""The timing ledger: what each job last decided, and which runs are in flight.

Every change happens inside an flock on `state/ledger.lock`, so every scoot
process on one runtime directory (a daemon, a timer's `schedule run --ticks
1`, a manual trigger) sees one history: an instant is claimed once, whoever
claims it.

A transaction that changes entries appends them to `state/ledger.journal`
(one line, one fsync: see scoot.schedule.ledger_journal) instead of
rewriting `state/ledger.json`, which at ten thousand jobs is a megabyte.
Once the journal outgrows ledger.json (or COMPACT_MIN_BYTES), the next
transaction folds it in: ledger.json is replaced atomically under a new
`journal` token, which retires the old journal. A transaction that changes
nothing writes nothing.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scoot.records.files import atomic_write_bytes
from scoot.schedule.jobs import Job
from scoot.schedule.ledger_entries import (
    FORMAT,
    NO_FLIGHTS,
    InFlight,
    JobEntry,
    Working,
    apply_changes,
    encode_ledger,
    parse_base,
    parse_ledger,
)
from scoot.schedule.ledger_journal import (
    append_journal,
    change_line,
    create_journal,
    journal_base,
    read_journal,
)

__all__ = ["FORMAT", "InFlight", "JobEntry", "Ledger", "decided_anchor", "entry_for"]
__all__ += ["encode_ledger", "parse_ledger"]
# The journal is folded into ledger.json once it is larger than this and than ledger.json.
COMPACT_MIN_BYTES = 16 * 1024


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _read_fd(path: Path) -> tuple[bytes, os.stat_result] | None:
    """A file's bytes and its stat, from one descriptor (None when it does not exist)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        chunks = []
        while chunk := os.read(fd, max(st.st_size, 65536)):
            chunks.append(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


class Ledger:
    """Reads the ledger and commits changes to it; every change happens inside `transaction()`."""

    def __init__(
        self, path: Path, lock_path: Path, *, compact_min_bytes: int = COMPACT_MIN_BYTES
    ) -> None:
        self.path = path
        self.lock_path = lock_path
        self.journal_path = path.with_suffix(".journal")
        self.compact_min_bytes = compact_min_bytes
        self.entries: dict[str, JobEntry] = {}
        self.problem: str | None = None  # why the last read fell back to an empty ledger
        self._loaded = False
        self._base_sig: tuple[int, int, int] | None = None  # ledger.json as last read
        self._token: str | None = None  # its journal token
        self._journal_sig: tuple[int, int, int] | None = None  # the journal as last seen
        self._journal_ino: int | None = None  # the journal applied to the entries, if any
        self._journal_end = 0  # how much of it (its whole lines)
        self._journal_damaged = False

    # -- reading -------------------------------------------------------------
    def _read(self) -> None:
        base = _stat(self.path)
        journal = _stat(self.journal_path)
        if self._loaded and base == self._base_sig:
            if journal == self._journal_sig:
                return
            if (
                journal is not None
                and journal[0] == self._journal_ino
                and journal[1] >= self._journal_end
                and not self._journal_damaged
            ):
                self._read_journal_tail()
                return
        self._read_whole()

    def _read_whole(self) -> None:
        self.entries, self._token, self.problem = {}, None, None
        self._journal_sig, self._journal_ino, self._journal_end = None, None, 0
        self._journal_damaged = False
        self._loaded = True
        try:
            found = _read_fd(self.path)
        except OSError as exc:
            found, self._base_sig = None, None
            self.problem = f"ledger {self.path} unreadable ({exc}); timers reset as after a restart"
        if found is None:
            self._base_sig = None
            return
        data, st = found
        self._base_sig = _signature(st)
        try:
            self.entries, self._token = parse_base(data)
        except ValueError as exc:
            self.problem = f"ledger {self.path} unreadable ({exc}); timers reset as after a restart"
            return
        if self._token is not None:
            self._read_journal_whole()

    def _read_journal_whole(self) -> None:
        try:
            found = _read_fd(self.journal_path)
        except OSError:
            found = None  # an unreadable journal is set aside by the next commit
        if found is None:
            return
        data, st = found
        self._journal_sig = _signature(st)
        header_end = data.find(b"\n") + 1
        if header_end == 0 or journal_base(data[:header_end]) != self._token:
            return  # a journal of an earlier ledger.json, already folded into this one
        self._journal_ino = st.st_ino
        self._apply(data[header_end:], header_end)

    def _read_journal_tail(self) -> None:
        try:
            fd = os.open(self.journal_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._read_whole()
            return
        try:
            st = os.fstat(fd)
            data = os.pread(fd, max(0, st.st_size - self._journal_end), self._journal_end)
        finally:
            os.close(fd)
        self._journal_sig = _signature(st)
        self.entries = dict(self.entries)  # a snapshot handed out earlier stays as it was
        self._apply(data, self._journal_end)

    def _apply(self, data: bytes, offset: int) -> None:
        found = read_journal(data, offset)
        for jobs in found.changes:
            apply_changes(self.entries, jobs)
        self._journal_end = found.end
        self._journal_damaged = found.damaged

    def peek(self) -> dict[str, JobEntry]:
        """Read without locking or creating anything, for side-effect free views.

        A torn view is impossible (ledger.json is replaced atomically and a
        journal line counts once whole); a stale one only shows what was true
        a moment ago. Raises OSError on a read failure.
        """
        self._read()
        return self.entries

    def load(self) -> dict[str, JobEntry]:
        """A snapshot for planning; the truth is re-read inside each transaction."""
        with self._locked(exclusive=False):
            self._read()
        return self.entries

    @contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    # -- writing -------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[dict[str, JobEntry]]:
        """Lock, re-read, let the caller change the entries, commit the changes.

        If the body raises, nothing is written; if it changed nothing, nothing
        is written either. A write failure propagates as OSError, and then the
        ledger is as it was.
        """
        with self._locked(exclusive=True):
            self._read()
            working = Working(self.entries)
            yield working
            changes = working.changes(self.entries)
            if not changes and not self.problem:
                return
            entries = dict(working)
            if self._can_append():
                line = change_line(changes)
                if self._journal_end + len(line) <= max(self.compact_min_bytes, self._base_size()):
                    self._append(line)
                    self.entries = entries
                    return
            self._compact(entries)

    def _can_append(self) -> bool:
        return self._token is not None and not self.problem and not self._journal_damaged

    def _base_size(self) -> int:
        return self._base_sig[1] if self._base_sig is not None else 0

    def _append(self, line: bytes) -> None:
        assert self._token is not None
        if self._journal_ino is None:
            # None yet for this ledger.json (or one of an earlier one): a new journal.
            self._journal_end, self._journal_ino = create_journal(
                self.journal_path, self._token, line
            )
        else:
            self._journal_end = append_journal(self.journal_path, line, self._journal_end)
        # Committed: the signature is only what the next read compares against.
        self._journal_sig = _stat_quietly(self.journal_path)

    def _compact(self, entries: dict[str, JobEntry]) -> None:
        """Replace ledger.json with all the entries; the old journal no longer counts."""
        if self.problem and self.path.exists():
            # Keep the unreadable file for inspection instead of losing it silently.
            os.replace(self.path, self.path.with_suffix(".json.corrupt"))
        token = f"{time.time_ns():x}-{os.getpid()}"
        atomic_write_bytes(self.path, encode_ledger(entries, token))
        aside = self.journal_path.with_suffix(".journal.damaged")
        try:
            if self._journal_damaged:
                os.replace(self.journal_path, aside)  # kept for inspection
            else:
                os.unlink(self.journal_path)  # retired by the new token even if this fails
        except OSError:
            pass
        self.entries, self._token, self.problem = entries, token, None
        self._base_sig = _stat(self.path)
        self._journal_sig, self._journal_ino, self._journal_end = None, None, 0
        self._journal_damaged = False


def _stat_quietly(path: Path) -> tuple[int, int, int] | None:
    try:
        return _stat(path)
    except OSError:
        return None


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        return _signature(os.stat(path))
    except FileNotFoundError:
        return None


def entry_for(entries: dict[str, JobEntry], job_id: str, trigger_key: str) -> JobEntry:
    """The job's entry, fresh when the job is new or its trigger changed."""
    entry = entries.get(job_id)
    if entry is None or entry.trigger != trigger_key:
        entry = JobEntry(trigger_key, in_flight=entry.in_flight if entry else NO_FLIGHTS)
        entries[job_id] = entry
    return entry


def decided_anchor(job: Job, entry: JobEntry) -> float | None:
    """What counts as decided for the planner: the ledger's last instant, or else
    the moment the job first appeared, so no later instant of it passes unseen.

    An every_sec job anchors its own grid on its first fire (at first sight), and
    a one-shot whose instant was already past when it appeared keeps the
    planner's first-look rule.
    """
    if entry.last_instant is not None or entry.first_seen is None:
        return entry.last_instant
    trigger = job.trigger
    if trigger.kind == "every":
        return None
    if trigger.kind == "at" and (trigger.at_unix is None or trigger.at_unix <= entry.first_seen):
        return None
    return entry.first_seen
