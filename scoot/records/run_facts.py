"""What a run record says beyond its fields: whether a worker ran, when, and how late."""

from __future__ import annotations

from typing import Any


def number_or_none(value: Any) -> float | None:
    """A record's number as a float; None for what is missing or not a number (bools too)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def ran(record: dict[str, Any]) -> bool:
    """Whether a worker ran (a never-started run has no exit, no signal and no time)."""
    return not (
        record.get("exit_code") is None
        and record.get("signal") is None
        and not record.get("duration_ms")
    )


def lateness_of(record: dict[str, Any]) -> float | None:
    """How long after its scheduled instant a scheduled run started."""
    instant = number_or_none(record.get("instant"))
    started = number_or_none(record.get("started_at"))
    if record.get("origin") != "schedule" or instant is None or started is None:
        return None
    return max(0.0, started - instant)


def run_time(row: dict[str, Any]) -> float | None:
    """When a run started (when it ended, for a record without a start)."""
    started = number_or_none(row.get("started_at"))
    return started if started is not None else number_or_none(row.get("ended_at"))
