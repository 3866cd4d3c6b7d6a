"""Paused jobs: `state/pauses.json`, written by `schedule pause`/`resume` and the daemon.

Kept out of the config on purpose: pausing is an operator's decision about
now, not part of what the job is. Every change is a read-modify-write under
an flock on `state/pauses.lock`, written atomically, so the CLI and a
running daemon never lose each other's changes; readers need no lock (the
file is replaced whole). The same file counts consecutive failures for
`pause_after_failures`, so the count survives restarts.
"""

from __future__ import annotations

import fcntl
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from scoot.records.files import atomic_write_bytes, read_format_document
from scoot.shared.value_class import value_class

__all__ = ["FORMAT", "Pause", "PauseStore", "parse_pauses"]

FORMAT = "scoot.schedule.pauses.v1"
_MAX_REASON = 500


@value_class
class Pause:
    """Why and until when a job is paused; `until` None means until resumed."""

    reason: str
    since: float
    until: float | None = None
    by: str = "operator"  # operator | failures

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "since": self.since, "until": self.until, "by": self.by}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def parse_pauses(data: bytes) -> tuple[dict[str, Pause], dict[str, int]]:
    """(pauses, consecutive failures) from the file; raises ValueError when it is not one."""
    value = read_format_document(data, FORMAT)
    pauses: dict[str, Pause] = {}
    raw_pauses = value.get("paused")
    for job_id, raw in (raw_pauses if isinstance(raw_pauses, dict) else {}).items():
        if not isinstance(raw, dict):
            continue  # a damaged entry is dropped; the others still count
        since = _number(raw.get("since"))
        until = _number(raw.get("until"))
        reason = raw.get("reason")
        by = raw.get("by")
        pauses[job_id] = Pause(
            reason=reason[:_MAX_REASON] if isinstance(reason, str) else "",
            since=since if since is not None else 0.0,
            until=until,
            by=by if by in ("operator", "failures") else "operator",
        )
    failures: dict[str, int] = {}
    raw_failures = value.get("failures")
    for job_id, count in (raw_failures if isinstance(raw_failures, dict) else {}).items():
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            failures[job_id] = count
    return pauses, failures


def _encode(pauses: dict[str, Pause], failures: dict[str, int]) -> bytes:
    body = {
        "format": FORMAT,
        "paused": {k: v.to_dict() for k, v in sorted(pauses.items())},
        "failures": dict(sorted(failures.items())),
    }
    return orjson.dumps(body) + b"\n"


class PauseStore:
    """Reads (cached by file identity) and changes the pause state."""

    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path = path
        self.lock_path = lock_path
        self.pauses: dict[str, Pause] = {}
        self.failures: dict[str, int] = {}
        self.problem: str | None = None
        self._signature: tuple[int, int, int] | None = None

    def read(self) -> dict[str, Pause]:
        """The current pauses; cheap when the file has not changed (one stat)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.pauses, self.failures, self._signature, self.problem = {}, {}, None, None
            return self.pauses
        except OSError as exc:
            self.problem = f"cannot read {self.path} ({exc.strerror}); no job counts as paused"
            return self.pauses
        signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        if signature != self._signature:
            try:
                self.pauses, self.failures = parse_pauses(self.path.read_bytes())
                self.problem = None
            except (OSError, ValueError) as exc:
                self.pauses, self.failures = {}, {}
                self.problem = f"{self.path} unreadable ({exc}); no job counts as paused"
            self._signature = signature
        return self.pauses

    @contextmanager
    def _change(self) -> Iterator[tuple[dict[str, Pause], dict[str, int]]]:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._signature = None  # re-read under the lock
            self.read()
            pauses, failures = dict(self.pauses), dict(self.failures)
            yield pauses, failures
            atomic_write_bytes(self.path, _encode(pauses, failures))
            self.pauses, self.failures = pauses, failures
        finally:
            os.close(fd)

    def pause(self, job_id: str, pause: Pause) -> None:
        """Pause a job (replacing an earlier pause). Raises OSError when it cannot be written."""
        with self._change() as (pauses, _):
            pauses[job_id] = pause

    def resume(self, job_id: str) -> Pause | None:
        """Lift a job's pause and reset its failure count; returns the pause lifted."""
        with self._change() as (pauses, failures):
            lifted = pauses.pop(job_id, None)
            failures.pop(job_id, None)
        return lifted

    def count_outcome(self, job_id: str, ok: bool) -> int:
        """Record one finished run; returns the consecutive failures now counted."""
        self.read()
        if ok and job_id not in self.failures:
            return 0  # nothing to reset: no write
        with self._change() as (_, failures):
            if ok:
                failures.pop(job_id, None)
                return 0
            failures[job_id] = failures.get(job_id, 0) + 1
            count = failures[job_id]
        return count
