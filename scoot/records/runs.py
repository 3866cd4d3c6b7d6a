"""Run history: state/runs.jsonl, one line per finished run, and reading it back."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scoot.records.files import read_json_lines


def read_runs(path: Path) -> tuple[list[dict[str, Any]], int]:
    """All run lines (oldest first) and the count of unparseable lines."""
    return read_json_lines(path)


def recent_runs(
    rows: Iterable[dict[str, Any]], job_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """The newest `limit` runs, newest first, optionally of one job."""
    picked = [r for r in rows if job_id is None or r.get("job_id") == job_id]
    return list(reversed(picked[-limit:])) if limit > 0 else list(reversed(picked))


def last_run_by_job(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    last: dict[str, dict[str, Any]] = {}
    for row in rows:
        job_id = row.get("job_id")
        if isinstance(job_id, str):
            last[job_id] = row
    return last
