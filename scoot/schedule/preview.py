"""`schedule next`: the instants each job will fire at, from a given time (pure).

Computed with the planner's own functions (scoot.schedule.triggers, scoot.schedule.jitter) and
the job's ledger entry, so the preview is what the daemon will do: the same
instants, the same jitter, and every_sec's grid anchored where the ledger has it.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from scoot.errors import UsageError
from scoot.schedule.jitter import jitter_ms_for
from scoot.schedule.jobs import Job
from scoot.schedule.ledger import JobEntry
from scoot.schedule.pauses import Pause
from scoot.schedule.planner import plan
from scoot.schedule.triggers import describe, is_exhausted, next_fire
from scoot.shared.value_class import value_class

__all__ = ["Fire", "fires_of", "format_iso", "parse_when", "preview_json", "preview_text"]

_UNIX = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@value_class
class Fire:
    instant: float  # the scheduled instant the ledger claims
    jitter_ms: int  # the start waits this long after it
    paused: bool  # the job is paused then: the instant is recorded skipped


def parse_when(text: str) -> float:
    """ISO 8601 (`2026-03-29T02:30`, with `Z` or an offset; none means UTC) or Unix seconds."""
    value = text.strip()
    if _UNIX.fullmatch(value):
        return float(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"cannot read time {text!r}: use ISO 8601 such as 2026-03-29T02:30:00Z "
            "or Unix seconds such as 1774751400"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_iso(t: float, zone: Any = UTC) -> str:
    """ISO 8601 with the offset (`Z` for UTC); milliseconds only when t has them."""
    moment = datetime.fromtimestamp(t, zone)
    spec = "milliseconds" if t != math.floor(t) else "seconds"
    text = moment.isoformat(timespec=spec)
    return text[:-6] + "Z" if zone is UTC and text.endswith("+00:00") else text


def fires_of(
    job: Job,
    entry: JobEntry | None,
    start: float,
    count: int,
    pause: Pause | None = None,
) -> list[Fire]:
    """The next `count` instants at or after `start` (fewer when the job stops firing)."""
    trigger = job.trigger
    last = entry.last_instant if entry is not None and entry.trigger == trigger.key else None
    if is_exhausted(trigger, last):
        return []
    # The first answer is the planner's own verdict at `start`: what a daemon
    # looking then would fire (a due instant within its grace) and when it looks next.
    verdict = plan(trigger, start, last, catch_up=job.catch_up, max_late_sec=job.max_late_sec)
    instants: list[float] = []
    if verdict.fire_instant is not None:
        instants.append(verdict.fire_instant)
    following = verdict.next_due
    while following is not None and len(instants) < count:
        instants.append(following)
        following = next_fire(trigger, following)
    return [
        Fire(
            instant,
            jitter_ms_for(job.id, trigger, instant, job.jitter_sec),
            pause is not None and pause.active(instant),
        )
        for instant in instants
    ]


def _zone_of(job: Job) -> Any:
    return job.trigger.zone or UTC


def preview_json(job: Job, fires: list[Fire]) -> dict[str, Any]:
    zone = _zone_of(job)
    return {
        "id": job.id,
        "trigger": describe(job.trigger),
        "timezone": job.trigger.timezone or "UTC",
        "jitter_sec": job.jitter_sec,
        "fires": [
            {
                "unix": fire.instant,
                "utc": format_iso(fire.instant),
                "local": format_iso(fire.instant, zone),
                "jitter_ms": fire.jitter_ms,
                "start_unix": fire.instant + fire.jitter_ms / 1000,
                "paused": fire.paused,
            }
            for fire in fires
        ],
    }


def preview_text(job: Job, fires: list[Fire]) -> list[str]:
    zone = _zone_of(job)
    lines = [f"{job.id}  {describe(job.trigger)}"]
    if not fires:
        lines.append("  (never fires again)")
    for fire in fires:
        moment = datetime.fromtimestamp(fire.instant, zone)
        local = "" if zone is UTC else f"  {moment.strftime('%Y-%m-%d %H:%M:%S %Z')}"
        jitter = f"  +{fire.jitter_ms / 1000:.3f}s jitter" if job.jitter_sec else ""
        paused = "  (paused: skipped)" if fire.paused else ""
        utc_text = datetime.fromtimestamp(fire.instant, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"  {utc_text}{local}{jitter}{paused}")
    return lines
