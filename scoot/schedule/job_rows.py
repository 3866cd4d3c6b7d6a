"""Where each configured job stands: active or not and why, its next fire, its budgets (pure).

`schedule list` shows these rows, and a waiting `schedule run` names the next
fire by the same rules, so what people read agrees with the next decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from scoot.schedule.jitter import jitter_ms_for
from scoot.schedule.jobs import InvalidJob, Job, JobSet
from scoot.schedule.ledger import JobEntry, decided_anchor
from scoot.schedule.pauses import Pause
from scoot.schedule.planner import plan
from scoot.schedule.triggers import describe, is_exhausted
from scoot.shared.spend.budget import SpendWindow


# Not frozen: ten thousand rows are built per listing, and a frozen init costs a
# third more; nothing changes a row once built.
@dataclass(slots=True)
class JobRow:
    id: str
    index: int
    active: bool
    reason: str | None
    trigger: str | None
    mode_requested: str | None
    mode_effective: str | None
    mode_coerced: bool
    warning: str | None
    next_fire_unix: float | None
    next_fire_due_now: bool
    goal: str | None
    last_status: str | None
    last_ended_at: float | None
    paused: bool = False
    paused_reason: str | None = None
    paused_until: float | None = None
    jitter_sec: int = 0
    next_jitter_ms: int = 0  # the next fire starts this long after its instant
    backend: str | None = None
    tokens_24h: int | None = None  # this job's tokens in the last 24 hours
    max_tokens_per_day: int | None = None
    max_tokens_per_run: int | None = None
    retries: int = 0


class Outlook(NamedTuple):
    """A job's next fire as the planner sees it, or why it has none."""

    reason: str | None  # why the job cannot fire again; None while it can
    next_fire: float | None
    due_now: bool


def outlook(job: Job, now: float, entry: JobEntry | None) -> Outlook:
    # What the scheduler will count as decided, so the view agrees with the next decision.
    last_instant = (
        decided_anchor(job, entry) if entry and entry.trigger == job.trigger.key else None
    )
    if is_exhausted(job.trigger, last_instant):
        return Outlook("one-shot already fired", None, False)
    verdict = plan(
        job.trigger, now, last_instant, catch_up=job.catch_up, max_late_sec=job.max_late_sec
    )
    if verdict.fire_instant is not None:
        return Outlook(None, verdict.fire_instant, True)
    if verdict.next_due is None:
        return Outlook("one-shot already past its max_late_sec", None, False)
    return Outlook(None, verdict.next_due, False)


def row_for_job(
    job: Job,
    *,
    enabled: bool,
    now: float,
    entry: JobEntry | None,
    last_run: dict[str, Any] | None,
    pause: Pause | None = None,
    tokens_24h: int | None = None,
) -> JobRow:
    ahead = outlook(job, now, entry)
    reason = ahead.reason if ahead.reason is not None or enabled else "schedule disabled"
    active = reason is None
    paused = pause is not None and pause.active(now)
    next_jitter = 0
    if active and ahead.next_fire is not None:
        next_jitter = jitter_ms_for(job.id, job.trigger, ahead.next_fire, job.jitter_sec)
    last = last_run or {}
    return JobRow(
        id=job.id,
        index=job.index,
        active=active,
        reason=reason,
        trigger=describe(job.trigger),
        mode_requested=job.mode.requested,
        mode_effective=job.mode.effective,
        mode_coerced=job.mode.coerced,
        warning=job.mode.warning,
        next_fire_unix=ahead.next_fire if active else None,
        next_fire_due_now=ahead.due_now and active,
        goal=job.goal,
        last_status=last.get("status"),
        last_ended_at=last.get("ended_at"),
        paused=paused,
        paused_reason=pause.reason if paused and pause else None,
        paused_until=pause.until if paused and pause else None,
        jitter_sec=job.jitter_sec,
        next_jitter_ms=next_jitter,
        backend=job.backend,
        tokens_24h=tokens_24h,
        max_tokens_per_day=job.max_tokens_per_day,
        max_tokens_per_run=job.max_tokens_per_run,
        retries=job.retries,
    )


def row_for_invalid(bad: InvalidJob) -> JobRow:
    return JobRow(
        id=bad.id or f"#{bad.index}",
        index=bad.index,
        active=False,
        reason=f"invalid: {bad.reason}",
        trigger=None,
        mode_requested=None,
        mode_effective=None,
        mode_coerced=False,
        warning=None,
        next_fire_unix=None,
        next_fire_due_now=False,
        goal=None,
        last_status=None,
        last_ended_at=None,
    )


def build_rows(
    jobset: JobSet,
    *,
    enabled: bool,
    now: float,
    entries: dict[str, JobEntry],
    last_runs: dict[str, dict[str, Any]],
    pauses: dict[str, Pause] | None = None,
    spend: SpendWindow | None = None,
) -> list[JobRow]:
    pauses = pauses or {}
    rows = [
        row_for_job(
            job,
            enabled=enabled,
            now=now,
            entry=entries.get(job.id),
            last_run=last_runs.get(job.id),
            pause=pauses.get(job.id),
            tokens_24h=spend.job_tokens(job.id, now) if spend is not None else None,
        )
        for job in jobset.jobs
    ]
    rows.extend(row_for_invalid(bad) for bad in jobset.invalid)
    return sorted(rows, key=lambda row: row.index)
