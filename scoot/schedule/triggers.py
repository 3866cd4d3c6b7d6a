"""Job triggers (every_sec, at_unix, cron) and the planner that decides what fires now.

Pure: every function takes the time it needs as an argument. Time is float Unix
seconds (UTC).

The planner answers one question for one job and trigger: given `now` and the
latest scheduled instant already decided in the ledger, which instant (if any)
fires now, which instants are missed for good, and when to look again. The
rules are in `plan`'s docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast
from zoneinfo import ZoneInfo

from scoot.schedule.civil import civil_from_days
from scoot.schedule.cron import CronExpr, describe_cron, parse_cron
from scoot.schedule.zoned import (
    UTC_NAMES,
    count_matches_in,
    next_after_in,
    prev_at_or_before_in,
    zone_or_none,
)

__all__ = [
    "CatchUp",
    "Plan",
    "Trigger",
    "TriggerError",
    "default_grace",
    "describe",
    "format_utc",
    "is_exhausted",
    "next_fire",
    "plan",
]

CatchUp = Literal["skip", "once"]
Align = Literal["start", "epoch"]
# Counting missed cron minutes stops here; the count is then a lower bound.
MISSED_COUNT_CAP = 100_000
_CRON_MINUTE_SEC = 60.0


class TriggerError(ValueError):
    """A trigger or planner argument that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Trigger:
    """When a job fires: exactly one of every_sec, at_unix or a cron expression.

    `timezone` (cron only) is the IANA zone the cron fields are read in; None is
    UTC. `align` (every_sec only): "start" anchors the grid on the first fire,
    "epoch" puts the instants on multiples of the interval since the Unix epoch.
    """

    kind: Literal["every", "at", "cron"]
    every_sec: int | None = None
    at_unix: float | None = None
    cron: CronExpr | None = None
    timezone: str | None = None
    align: Align = "start"

    def __post_init__(self) -> None:
        given = {
            "every": self.every_sec is not None,
            "at": self.at_unix is not None,
            "cron": self.cron is not None,
        }
        if self.kind not in given:
            raise TriggerError(f'trigger kind must be "every", "at" or "cron", got {self.kind!r}')
        if not given[self.kind] or sum(given.values()) != 1:
            own_value = {"every": "every_sec", "at": "at_unix", "cron": "cron"}[self.kind]
            raise TriggerError(
                f"trigger kind {self.kind!r} needs {own_value} and no other trigger value"
            )
        if self.kind == "every":
            every_sec = self.every_sec
            if isinstance(every_sec, bool) or not isinstance(every_sec, int) or every_sec < 1:
                raise TriggerError(f"every_sec must be an integer >= 1, got {every_sec!r}")
        elif self.kind == "at":
            at_unix = self.at_unix
            if isinstance(at_unix, bool) or not isinstance(at_unix, int | float):
                raise TriggerError(f"at_unix must be a number of Unix seconds, got {at_unix!r}")
            if not math.isfinite(at_unix):
                raise TriggerError(f"at_unix must be a finite number, got {at_unix!r}")
            object.__setattr__(self, "at_unix", float(at_unix))
        if self.timezone is not None:
            if self.kind != "cron":
                raise TriggerError("timezone applies to cron triggers only")
            zone_or_none(self.timezone)  # raises ZoneError (a ValueError) when unknown
            if self.timezone in UTC_NAMES:
                object.__setattr__(self, "timezone", None)
        if self.align not in ("start", "epoch"):
            raise TriggerError(f'align must be "start" or "epoch", got {self.align!r}')
        if self.align == "epoch" and self.kind != "every":
            raise TriggerError("align applies to every_sec triggers only")

    @classmethod
    def every(cls, every_sec: int, align: Align = "start") -> Trigger:
        """Fire at start, then at a fixed rate of `every_sec` seconds (an integer >= 1).

        With align "epoch", fire at the multiples of `every_sec` since the epoch.
        """
        return cls(kind="every", every_sec=every_sec, align=align)

    @classmethod
    def at(cls, at_unix: float) -> Trigger:
        """Fire once, at the first look at or after Unix time `at_unix`."""
        return cls(kind="at", at_unix=at_unix)

    @classmethod
    def from_cron(cls, expr: str, timezone: str | None = None) -> Trigger:
        """Fire on a 5-field cron expression read in `timezone` (None: UTC).

        Raises CronError or ZoneError (both ValueError) if invalid.
        """
        return cls(kind="cron", cron=parse_cron(expr), timezone=timezone)

    @property
    def key(self) -> str:
        """A stable string naming this trigger, e.g. `every:300` or `cron:*/5 * * * *`.

        The ledger keys its entries by job id and this key, so a job whose trigger
        changes starts afresh.
        """
        if self.kind == "every":
            grid = "@epoch" if self.align == "epoch" else ""
            return f"every:{self._every_sec}{grid}"
        if self.kind == "at":
            return f"at:{_format_number(self._at_unix)}"
        zone = f" tz={self.timezone}" if self.timezone else ""
        return f"cron:{self._cron.source}{zone}"

    @property
    def zone(self) -> ZoneInfo | None:
        """The loaded zone of a cron trigger; None for UTC."""
        return zone_or_none(self.timezone)

    # __post_init__ guarantees the value of the trigger's kind is set.
    @property
    def _every_sec(self) -> int:
        return cast(int, self.every_sec)

    @property
    def _at_unix(self) -> float:
        return cast(float, self.at_unix)

    @property
    def _cron(self) -> CronExpr:
        return cast(CronExpr, self.cron)


@dataclass(frozen=True)
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


def next_fire(trigger: Trigger, after: float) -> float | None:
    """The next scheduled instant strictly after `after`, with no history (None: never).

    An every-trigger without history fires `every_sec` after `after`; with a
    ledger, use `plan`, which keeps the fixed-rate grid.
    """
    if trigger.kind == "every":
        if trigger.align == "epoch":
            return epoch_grid_after(trigger._every_sec, after)
        return after + trigger._every_sec
    if trigger.kind == "at":
        return trigger._at_unix if trigger._at_unix > after else None
    return next_after_in(trigger._cron, trigger.zone, after)


def epoch_grid_after(interval: int, after: float) -> float:
    """The first multiple of `interval` seconds since the epoch strictly after `after`."""
    return float((math.floor(after) // interval + 1) * interval)


def default_grace(trigger: Trigger) -> float | None:
    """How late an instant may still fire when the job sets no max_late_sec (None: no limit).

    cron: the rest of its minute; every: one interval; at: unlimited. The first two
    bounds are exclusive (a cron instant at 12:00 fires until just before 12:01).
    """
    if trigger.kind == "cron":
        return _CRON_MINUTE_SEC
    if trigger.kind == "every":
        return float(trigger._every_sec)
    return None


def is_exhausted(trigger: Trigger, last_instant: float | None) -> bool:
    """Whether the trigger will never fire again: an at-trigger whose instant is decided."""
    return trigger.kind == "at" and last_instant is not None and last_instant >= trigger._at_unix


def describe(trigger: Trigger) -> str:
    """The trigger in words: `every 5m`, `once at 2026-01-01 00:00:00 UTC`, `every minute`."""
    if trigger.kind == "every":
        grid = " (on the epoch grid)" if trigger.align == "epoch" else ""
        return f"every {_format_duration(trigger._every_sec)}{grid}"
    if trigger.kind == "at":
        return f"once at {format_utc(trigger._at_unix)}"
    text = describe_cron(trigger._cron)
    if trigger.timezone:
        text = text.replace(" UTC", f" {trigger.timezone}").replace(
            "(UTC)", f"({trigger.timezone})"
        )
        if trigger.timezone not in text:
            text += f" ({trigger.timezone})"
    return text


def format_utc(t: float) -> str:
    """`YYYY-MM-DD HH:MM:SS UTC`, with milliseconds only when t has a fraction of a second."""
    whole = math.floor(t)
    millis = round((t - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    day, second_of_day = divmod(whole, 86_400)
    year, month, mday = civil_from_days(day)
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    fraction = f".{millis:03d}" if millis else ""
    return f"{year:04d}-{month:02d}-{mday:02d} {hour:02d}:{minute:02d}:{second:02d}{fraction} UTC"


def _format_duration(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)


def _format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


# --- the planner -------------------------------------------------------------------


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
        if _within_grace(
            now - latest, min(float(interval), _CRON_MINUTE_SEC), "skip", max_late_sec
        ):
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
        window = max_late_sec if max_late_sec is not None else _CRON_MINUTE_SEC
        latest = prev_at_or_before_in(expr, zone, now, not_before=now - window)
        if latest is not None and _within_grace(
            now - latest, _CRON_MINUTE_SEC, "skip", max_late_sec
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
    fires = _within_grace(now - latest, _CRON_MINUTE_SEC, catch_up, max_late_sec)
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
