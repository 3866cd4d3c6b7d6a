"""Runs that a dead scoot process left unfinished are notified too.

Recovery records them (interrupted, or from what was written before the
crash) at the next start; without this their owners would hear nothing of a
run that never ended. The ids are taken before recovery, the endings read
from runs.jsonl after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scoot.notify.notifier import RUN_FIELDS
from scoot.records.files import tail_objects
from scoot.supervise.procs import is_alive

# How far back in runs.jsonl the endings recovery just wrote are looked for.
TAIL_BYTES = 4 * 1024 * 1024


def lost_run_ids(entries: dict[str, Any]) -> set[str]:
    """Runs in flight whose scoot process is gone (what recovery is about to finish)."""
    return {
        flight.run_id
        for entry in entries.values()
        for flight in entry.in_flight.values()
        if not is_alive(flight.owner_pid, flight.owner_start)
    }


def recovered_endings(runs: Path, run_ids: set[str]) -> list[dict[str, Any]]:
    """The runs.jsonl lines of those runs, as run-event fields for the notifier."""
    if not run_ids:
        return []
    found: dict[str, dict[str, Any]] = {}
    for row in tail_objects(runs, TAIL_BYTES):
        if row.get("run_id") in run_ids:
            found[str(row["run_id"])] = row
    return [{k: row.get(k) for k in RUN_FIELDS} for row in found.values()]
