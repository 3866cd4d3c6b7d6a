"""The timing ledger: what each job last decided, and which runs are in flight.

`state/ledger.json` is rewritten atomically inside an flock on
`state/ledger.lock`, so every scoot process on one runtime directory (a
daemon, a timer's `schedule run --ticks 1`, a manual trigger) sees one
history: an instant is claimed once, whoever claims it.
"""

from __future__ import annotations

import fcntl
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from scoot.records.files import atomic_write_bytes
from scoot.schedule.jobs import MAX_AT_UNIX, Job

FORMAT = "scoot.schedule.ledger.v1"


@dataclass
class InFlight:
    run_id: str
    instant: float | None
    started_at: float
    owner_pid: int
    owner_start: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "instant": self.instant,
            "started_at": self.started_at,
            "owner_pid": self.owner_pid,
            "owner_start": self.owner_start,
        }


@dataclass
class JobEntry:
    trigger: str
    last_instant: float | None = None
    last_fired: float | None = None
    last_run_id: str | None = None
    in_flight: dict[str, InFlight] = field(default_factory=dict)
    # When this job (with this trigger) first appeared: instants after it are never silent.
    first_seen: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "last_instant": self.last_instant,
            "last_fired": self.last_fired,
            "last_run_id": self.last_run_id,
            "in_flight": [f.to_dict() for f in self.in_flight.values()],
            "first_seen": self.first_seen,
        }


def _entry_from(raw: Any) -> JobEntry | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("trigger"), str):
        return None
    entry = JobEntry(raw["trigger"])
    for key in ("last_instant", "last_fired", "first_seen"):
        value = raw.get(key)
        # A hand-edited or damaged time outside any real calendar counts as no history.
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and 0 <= value <= MAX_AT_UNIX
        ):
            setattr(entry, key, float(value))
    if isinstance(raw.get("last_run_id"), str):
        entry.last_run_id = raw["last_run_id"]
    flights = raw.get("in_flight")
    for item in flights if isinstance(flights, list) else []:
        if not isinstance(item, dict):
            continue  # a damaged entry is dropped; the rest of the ledger still counts
        try:
            flight = InFlight(
                str(item["run_id"]),
                None if item.get("instant") is None else float(item["instant"]),
                float(item["started_at"]),
                int(item["owner_pid"]),
                None if item.get("owner_start") is None else float(item["owner_start"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        entry.in_flight[flight.run_id] = flight
    return entry


def parse_ledger(data: bytes) -> dict[str, JobEntry]:
    """Raises ValueError when the file is not a ledger."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document")
    jobs = value.get("jobs")
    if not isinstance(jobs, dict):
        raise ValueError("no jobs table")
    entries: dict[str, JobEntry] = {}
    for job_id, raw in jobs.items():
        entry = _entry_from(raw)
        if entry is not None:
            entries[job_id] = entry
    return entries


def encode_ledger(entries: dict[str, JobEntry]) -> bytes:
    body = {"format": FORMAT, "jobs": {k: v.to_dict() for k, v in sorted(entries.items())}}
    return orjson.dumps(body) + b"\n"


class Ledger:
    """Reads and rewrites the ledger; every change happens inside `transaction()`."""

    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path = path
        self.lock_path = lock_path
        self.entries: dict[str, JobEntry] = {}
        self.problem: str | None = None  # why the last read fell back to an empty ledger
        self._signature: tuple[int, int, int] | None = None

    def _read(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.entries, self._signature = {}, None
            self.problem = None
            return
        signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        if signature == self._signature:
            return
        try:
            data = self.path.read_bytes()
            self.entries = parse_ledger(data)
            self.problem = None
        except (OSError, ValueError) as exc:
            self.entries = {}
            self.problem = f"ledger {self.path} unreadable ({exc}); timers reset as after a restart"
        self._signature = signature

    def peek(self) -> dict[str, JobEntry]:
        """Read without locking or creating anything, for side-effect free views.

        A torn view is impossible (the file is replaced atomically); a stale one
        only shows what was true a moment ago. Raises OSError on a read failure.
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

    @contextmanager
    def transaction(self) -> Iterator[dict[str, JobEntry]]:
        """Lock, re-read, let the caller change the entries, write them back atomically.

        If the body raises, nothing is written. A write failure propagates as OSError.
        """
        with self._locked(exclusive=True):
            self._read()
            working = {
                k: JobEntry(
                    v.trigger,
                    v.last_instant,
                    v.last_fired,
                    v.last_run_id,
                    dict(v.in_flight),
                    v.first_seen,
                )
                for k, v in self.entries.items()
            }
            yield working
            if self.problem and self.path.exists():
                # Keep the unreadable file for inspection instead of losing it silently.
                os.replace(self.path, self.path.with_suffix(".json.corrupt"))
            atomic_write_bytes(self.path, encode_ledger(working))
            st = os.stat(self.path)
            self.entries = working
            self._signature = (st.st_ino, st.st_size, st.st_mtime_ns)
            self.problem = None


def entry_for(entries: dict[str, JobEntry], job_id: str, trigger_key: str) -> JobEntry:
    """The job's entry, fresh when the job is new or its trigger changed."""
    entry = entries.get(job_id)
    if entry is None or entry.trigger != trigger_key:
        entry = JobEntry(trigger_key, in_flight=entry.in_flight if entry else {})
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
