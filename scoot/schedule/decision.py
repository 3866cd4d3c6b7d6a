"""What one due job does at one wake-up: fire, skip, or wait, and what to audit (pure).

The scheduler gathers the facts (the time, the job's ledger entry, its pause,
its budget, who else runs it) and applies the decision to the ledger; this
module only decides. The budget and the overlap are asked through callables,
and only when an instant would fire, as they read other state (the day's
spend, the process table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scoot.schedule.jobs import Job
from scoot.schedule.ledger import JobEntry, decided_anchor
from scoot.schedule.pauses import Pause
from scoot.schedule.planner import Plan, plan
from scoot.schedule.triggers import format_utc
from scoot.shared.value_class import value_class

Event = tuple[str, str, dict[str, Any]]  # (kind, message, fields) for the audit


@value_class(slots=True)
class Facts:
    """What the scheduler knows about one due job at `now`."""

    now: float
    pause: Pause | None  # an active pause, or None
    # Why the job's day budget forbids a start now, or None.
    budget_spent: Callable[[], str | None]
    # Who runs the job already ("pid 123", "this process"), or None.
    holder: Callable[[], str | None]
    budget_skip_audited: bool  # this exhaustion was already audited
    claim_lead_sec: float = 0.0  # how far ahead of the clock `now` looks (claims are made ahead)


@dataclass(slots=True)
class Decision:
    """The decision for one job; the scheduler writes it into the ledger entry."""

    next_due: float | None
    first_seen: float | None = None  # set: the job is new to the ledger, seen at this time
    last_instant: float | None = None  # set: the new latest decided instant
    fire_instant: float | None = None  # set: claim a run of this instant
    # True: this exhaustion is now audited; False: the budget allows again; None: no change.
    budget_skip_audited: bool | None = None
    events: list[Event] = field(default_factory=list)


def decide_job(job: Job, entry: JobEntry, facts: Facts) -> Decision:
    """Decide one due job from its ledger entry (read, not changed) and `facts`."""
    now = facts.now
    fresh = entry.first_seen is None
    anchor = entry.last_instant if fresh else decided_anchor(job, entry)
    trigger = job.trigger
    # With nothing decided, an every_sec job fires at the decision itself: at the
    # clock's reading, not at the claim's look-ahead, so it starts at once.
    starts_now = trigger.kind == "every" and trigger.align != "epoch" and anchor is None
    verdict = plan(
        trigger,
        now - facts.claim_lead_sec if starts_now else now,
        anchor,
        catch_up=job.catch_up,
        max_late_sec=job.max_late_sec,
    )
    decision = Decision(
        verdict.next_due,
        first_seen=now if fresh else None,
        last_instant=verdict.decided_through,
    )
    if facts.pause is not None:
        decision.events += _paused_events(job, verdict, facts.pause)
        return decision
    if verdict.missed_count:
        decision.events.append(_missed_event(job, verdict))
    fire = verdict.fire_instant
    if fire is None:
        return decision
    spent = facts.budget_spent()
    if spent is not None:
        if not facts.budget_skip_audited:
            # Once per exhaustion: the next instants of a spent job pass in silence.
            decision.budget_skip_audited = True
            decision.events.append(_budget_event(job, fire, spent))
        return decision
    decision.budget_skip_audited = False
    holder = facts.holder()
    if holder is not None:
        decision.events.append(
            (
                "job_skipped",
                f"job {job.id} skipped: previous run still running ({holder})",
                {"job_id": job.id, "reason": "overlap", "instant": fire},
            )
        )
    else:
        decision.fire_instant = fire
    return decision


def _missed_event(job: Job, verdict: Plan) -> Event:
    more = "+" if verdict.missed_count_capped else ""
    return (
        "job_missed",
        f"job {job.id} missed {verdict.missed_count}{more} scheduled "
        f"instant(s) (catch_up={job.catch_up})",
        {
            "job_id": job.id,
            "count": verdict.missed_count,
            "first_instant": verdict.first_missed,
            "last_instant": verdict.last_missed,
        },
    )


def _budget_event(job: Job, instant: float, spent: str) -> Event:
    return (
        "job_skipped",
        f"job {job.id} skipped: {spent}; it runs again when the budget allows",
        {"job_id": job.id, "reason": "budget", "instant": instant, "spent": spent},
    )


def _paused_events(job: Job, verdict: Plan, pause: Pause) -> list[Event]:
    """A paused job: every instant now decided is recorded once, as skipped, never missed."""
    count = verdict.missed_count + (1 if verdict.fire_instant is not None else 0)
    if not count:
        return []
    latest = verdict.fire_instant if verdict.fire_instant is not None else verdict.last_missed
    first = verdict.first_missed if verdict.missed_count else latest
    until = f" until {format_utc(pause.until)}" if pause.until is not None else ""
    why = f": {pause.reason}" if pause.reason else ""
    return [
        (
            "job_skipped",
            f"job {job.id} skipped {count} instant(s): paused{until}{why}",
            {
                "job_id": job.id,
                "reason": "paused",
                "instant": latest,
                "count": count,
                "first_instant": first,
                "last_instant": latest,
            },
        )
    ]
