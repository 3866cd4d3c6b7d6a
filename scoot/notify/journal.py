"""What the notifier leaves behind: notify.jsonl lines, audit events, one warning per failure.

Every delivery step is told three ways: a line in state/notify.jsonl (what
`schedule last` and `notify pending` read), an audit event for the outcomes,
and on the terminal when something needs a person. A write that fails (a full
disk) is said once, not at every tick.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from scoot.notify.outbox import Entry
from scoot.records.audit import append_record


def delivery_log(state: Path) -> Path:
    return state / "notify.jsonl"


class Journal:
    def __init__(
        self,
        state: Path,
        *,
        audit: Callable[..., None],
        warn: Callable[[str], None],
        clock: Callable[[], float],
    ) -> None:
        self.path = delivery_log(state)
        self.audit = audit
        self.warn = warn
        self._clock = clock
        self._write_failing = False

    def log(self, entry: Entry, state: str, result: dict[str, Any] | None = None) -> None:
        """One notify.jsonl line: the entry's delivery reached `state`."""
        line = {
            "at": round(self._clock(), 3),
            "delivery_id": entry.delivery_id,
            "kind": entry.kind,
            "event": entry.data.get("event"),
            "job_id": entry.data.get("job_id"),
            "run_id": entry.data.get("run_id"),
            "target": entry.data.get("target"),
            "state": state,
            "attempt": entry.data.get("attempts"),
            "http_status": (result or {}).get("http_status"),
            "error": (result or {}).get("error"),
        }
        try:
            append_record(self.path, line)
        except OSError as exc:
            self.write_failed(f"cannot write {self.path} ({exc.strerror})")

    def write_failed(self, text: str) -> None:
        """Warn of a failed write, the first time only."""
        if not self._write_failing:
            self._write_failing = True
            self.warn(text)


def what(entry: Entry) -> str:
    """The entry as a person reads it in the audit log and on the terminal."""
    if entry.kind == "ping":
        return f"ping {entry.data.get('event')} of job {entry.data.get('job_id')}"
    return (
        f"notification {entry.data.get('event')} of job {entry.data.get('job_id')} "
        f"to {entry.data.get('target')} ({entry.delivery_id})"
    )


def details(entry: Entry, attempt: int, result: dict[str, Any]) -> dict[str, Any]:
    """The audit fields of one delivery outcome."""
    return {
        "run_id": entry.data.get("run_id"),
        "job_id": entry.data.get("job_id"),
        "delivery_id": entry.delivery_id,
        "target": entry.data.get("target"),
        "event": entry.data.get("event"),
        "notify_kind": entry.kind,
        "attempt": attempt,
        "http_status": result.get("http_status"),
        "error": result.get("error"),
    }
