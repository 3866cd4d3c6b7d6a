"""The planner: what fires now for one job and trigger, and what is missed for good.

Pure: every function takes the time it needs as an argument. Time is float Unix
seconds (UTC). Given `now` and the latest scheduled instant already decided in
the ledger, it says which instant (if any) fires now, which instants are missed
for good, and when to look again. The rules are in `plan`'s docstring.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from scoot.schedule.cron import CronExpr
from scoot.schedule.triggers import (
    CRON_MINUTE_SEC,
    CatchUp,
    Trigger,
    TriggerError,
)
from scoot.schedule.zoned import count_matches_in, next_after_in, prev_at_or_before_in
from scoot.shared.value_class import value_class

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = ["MISSED_COUNT_CAP", "Plan", "plan"]

# Counting missed cron minutes stops here; the count is then a lower bound.
MISSED_COUNT_CAP = 100_000


@value_class
class Plan:
    """What to do for one job now; see `plan`.

    fire_instant: the scheduled instant to fire now, or None.
    missed_count / first_missed / last_missed: instants in (last_instant, now] that
      will never run; missed_count_capped means the count stopped at its cap and is
      a lower bound (first and last stay exact).
    decided_through: the value to record as the job's new last_instant, or None
      when nothing new was decided. Store it as given: after the clock stepped back
      an every-trigger re-anchors, and this may be lower than the old last_instant.
    next_due: when to look at this job again (the next scheduled instant after
      now and after everything decided), or None when it never fires again.
    """

    fire_instant: float | None
    decided_through: float | None
    next_due: float | None
    missed_count: int = 0
    missed_count_capped: bool = False
    first_missed: float | None = None
    last_missed: float | None = None


def plan(
    trigger: Trigger,
    now: float,
    last_instant: float | None,
    *,
    catch_up: CatchUp = "skip",
    max_late_sec: float | None = None,
) -> Plan:
    """Decide what fires now for one job and trigger.

    `last_instant` is the latest scheduled instant already decided in the ledger
    (fired, skipped or recorded missed); None means no ledger entry.

    Rules:
    - An instant I is due when I <= now. It may still fire while its lateness
      now - I is within grace: `max_late_sec` when set (inclusive: now - I <=
      max_late_sec), else the default (cron: now < I + 60, the rest of its minute;
      every: now - I < interval; at: unlimited). With catch_up "once" and no
      max_late_sec, grace is unlimited (like systemd's Persistent=).
    - Of the due instants after last_instant, only the latest can fire, and only
      once; all others, and the latest too when it is past grace, are missed.
    - No ledger entry: nothing is ever missed and catch_up does not apply (nothing
      was missed to catch up). every fires at once with instant = now, which
      anchors its grid; cron fires the latest matching minute <= now if within
      grace; at fires if now >= at_unix and within grace, else it is left alone.
    - every with a ledger: instants are last_instant + k * interval (fixed rate:
      the grid never moves to the actual fire time), counted arithmetically.
    - Clock behind the ledger (now < last_instant): nothing fires and nothing is
      missed. cron and at: instants up to last_instant stay done; look again at
      the next instant after it. every: if the step back is less than one
      interval, keep the grid (next_due = last_instant + interval); otherwise
      re-anchor on now (decided_through = now, next_due = now + interval). So no
      instant fires twice, nothing bursts, nothing fires within one interval of
      the clock step, and the wait never reaches two intervals.
    - Clock jumped forward: the ordinary rules, so at most one fire and the rest
      audited as missed.
    """
    if catch_up not in ("skip", "once"):
        raise TriggerError(f'catch_up must be "skip" or "once", got {catch_up!r}')
    if max_late_sec is not None and not (max_late_sec >= 0 and math.isfinite(max_late_sec)):
        raise TriggerError(f"max_late_sec must be a finite number >= 0, got {max_late_sec!r}")
    if trigger.kind == "every":
        if trigger.align == "epoch":
            return _plan_epoch(trigger._every_sec, now, last_instant, catch_up, max_late_sec)
        return _plan_every(trigger._every_sec, now, last_instant, catch_up, max_late_sec)
    if trigger.kind == "at":
        return _plan_at(trigger._at_unix, now, last_instant, catch_up, max_late_sec)
    return _plan_cron(trigger._cron, trigger.zone, now, last_instant, catch_up, max_late_sec)


def _within_grace(
    lateness: float,
    default_limit: float | None,
    catch_up: CatchUp,
    max_late_sec: float | None,
) -> bool:
    if max_late_sec is not None:
        return lateness <= max_late_sec
    if catch_up == "once" or default_limit is None:
        return True
    return lateness < default_limit


def _nothing(next_due: float | None, decided_through: float | None = None) -> Plan:
    return Plan(
        fire_instant=None,
        decided_through=decided_through,
        next_due=next_due,
    )


def _plan_every(
    interval: int,
    now: float,
    last_instant: float | None,
    catch_up: CatchUp,
    max_late_sec: float | None,
) -> Plan:
    if last_instant is None:
        return Plan(
            fire_instant=now,
            decided_through=now,
            next_due=now + interval,
        )
    if now < last_instant:
        if last_instant - now < interval:
            return _nothing(next_due=last_instant + interval)
        return _nothing(next_due=now + interval, decided_through=now)
    due_count = int((now - last_instant) // interval)
    # Float division can be off by one at the edges; settle it on the instants themselves.
    if last_instant + due_count * interval > now:
        due_count -= 1
    elif last_instant + (due_count + 1) * interval <= now:
        due_count += 1
    if due_count == 0:
        return _nothing(next_due=last_instant + interval)
    latest = last_instant + due_count * interval
    fires = _within_grace(now - latest, float(interval), catch_up, max_late_sec)
    missed = due_count - 1 if fires else due_count
    return Plan(
        fire_instant=latest if fires else None,
        missed_count=missed,
        first_missed=last_instant + interval if missed else None,
        last_missed=last_instant + missed * interval if missed else None,
        decided_through=latest,
        next_due=latest + interval,
    )


def _plan_at(
    at_unix: float,
    now: float,
    last_instant: float | None,
    catch_up: CatchUp,
    max_late_sec: float | None,
) -> Plan:
    if last_instant is not None and last_instant >= at_unix:
        return _nothing(next_due=None)
    if now < at_unix:
        return _nothing(next_due=at_unix)
    if _within_grace(now - at_unix, None, catch_up, max_late_sec):
        return Plan(
            fire_instant=at_unix,
            decided_through=at_unix,
            next_due=None,
        )
    if last_instant is None:
        # Too late, but with no ledger entry nothing counts as missed.
        return _nothing(next_due=None)
    return Plan(
        fire_instant=None,
        missed_count=1,
        first_missed=at_unix,
        last_missed=at_unix,
        decided_through=at_unix,
        next_due=None,
    )


def _plan_epoch(
    interval: int,
    now: float,
    last_instant: float | None,
    catch_up: CatchUp,
    max_late_sec: float | None,
) -> Plan:
    """every_sec on the epoch grid: like cron, the instants do not depend on history."""
    latest = float((math.floor(now) // interval) * interval)
    if last_instant is None:
        # No history: the current grid instant fires only while it is fresh (the rest
        # of its minute, or of its interval when shorter), as a cron minute would.
        if _within_grace(now - latest, min(float(interval), CRON_MINUTE_SEC), "skip", max_late_sec):
            return Plan(fire_instant=latest, decided_through=latest, next_due=latest + interval)
        return _nothing(next_due=latest + interval)
    # A hand-edited or foreign entry off the grid is read as its grid instant.
    snapped = float((math.floor(last_instant) // interval) * interval)
    if now < snapped and snapped - now >= interval:
        # The clock stepped back by more than an interval: re-anchor, as every does.
        return _nothing(next_due=latest + interval, decided_through=latest)
    return _plan_every(interval, now, snapped, catch_up, max_late_sec)


def _plan_cron(
    expr: CronExpr,
    zone: ZoneInfo | None,
    now: float,
    last_instant: float | None,
    catch_up: CatchUp,
    max_late_sec: float | None,
) -> Plan:
    if last_instant is None:
        # Only an instant within grace can fire, so search no further back than that.
        window = max_late_sec if max_late_sec is not None else CRON_MINUTE_SEC
        latest = prev_at_or_before_in(expr, zone, now, not_before=now - window)
        if latest is not None and _within_grace(
            now - latest, CRON_MINUTE_SEC, "skip", max_late_sec
        ):
            return Plan(
                fire_instant=latest,
                decided_through=latest,
                next_due=next_after_in(expr, zone, now),
            )
        return _nothing(next_due=next_after_in(expr, zone, now))
    # One search settles the common case, nothing new due; it also covers a clock
    # behind the ledger, since instants up to last_instant stay done.
    first_due = next_after_in(expr, zone, last_instant)
    if first_due > now:
        return _nothing(next_due=first_due)
    latest = prev_at_or_before_in(expr, zone, now, not_before=first_due)
    if latest is None:  # unreachable: first_due itself matches and is <= now
        latest = first_due
    fires = _within_grace(now - latest, CRON_MINUTE_SEC, catch_up, max_late_sec)
    # Missed: every instant in (last_instant, latest), plus latest itself if it does not fire.
    missed_until = latest - 1 if fires else latest
    missed, capped = count_matches_in(expr, zone, last_instant, missed_until, cap=MISSED_COUNT_CAP)
    first_missed = last_missed = None
    if missed:
        first_missed = first_due
        last_missed = prev_at_or_before_in(expr, zone, missed_until)
    return Plan(
        fire_instant=latest if fires else None,
        missed_count=missed,
        missed_count_capped=capped,
        first_missed=first_missed,
        last_missed=last_missed,
        decided_through=latest,
        next_due=next_after_in(expr, zone, now),
    )
