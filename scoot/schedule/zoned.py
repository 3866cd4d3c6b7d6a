"""Cron expressions read in a time zone: which UTC instants a local wall-clock rule means.

Pure functions of their inputs (no clock reads). `zone=None` means UTC and goes
straight to scoot.schedule.cron. Zones come from `zoneinfo` (with the `tzdata` package as
the fallback database).

The rules, which are cronie's:

- A *fixed-time* expression (neither its minute nor its hour field starts with
  `*`, e.g. `30 2 * * *`, `0 9,17 * * 1-5`) names wall-clock times:
  - a wall time that occurs once fires then;
  - a wall time that occurs twice (clocks set back) fires once, at its first
    occurrence;
  - a wall time that does not occur (clocks set forward) fires once, at the
    first instant after the gap (several such times fire once together).
- Any other expression (`* * * * *`, `*/15 * * * *`, `0 * * * *`) follows real
  minutes: it fires at each instant whose wall time matches, so a repeated hour
  runs twice and a skipped hour not at all.

How: the UTC time line is cut into segments of constant UTC offset. Within one
segment wall time is UTC plus the offset, so the UTC cron functions answer on
shifted times. The segments are found by stepping through the zone a day at a
time and bisecting to the second; a pair of offset changes less than a day apart
that cancel out would be missed (no zone in the tz database has one in use).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from scoot.schedule.cron import CronExpr
from scoot.schedule.cron_search import count_matches, matches, next_after, prev_at_or_before

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = [
    "UTC_NAMES",
    "ZoneError",
    "count_matches_in",
    "load_zone",
    "next_after_in",
    "offset_at",
    "prev_at_or_before_in",
    "segment_at",
    "transitions_between",
    "zone_or_none",
]

# Names that mean plain UTC: handled by scoot.schedule.cron directly, and kept out of ledger keys.
UTC_NAMES = frozenset({"UTC", "Etc/UTC"})
_DAY = 86_400
# How far a segment search looks before calling the offset constant (a zone
# without daylight saving); consecutive segments with one offset change nothing.
_HORIZON_DAYS = 400
# Instants scoot can reach (year 1 .. 9999); searches stop at these.
_MIN_T = -62_135_596_800
_MAX_T = 253_402_300_799


class ZoneError(ValueError):
    """A time zone name that cannot be used; the message is one line."""


def load_zone(name: str) -> ZoneInfo:
    """The zone named `name` (IANA, e.g. Europe/Berlin); raises ZoneError."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise ZoneError(f"time zone must be an IANA name such as Europe/Berlin, got {name!r}")
    # Imported here: zoneinfo finds its search path through sysconfig, a cost
    # every start would pay though most configs name no zone.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ZoneError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC"
        ) from None


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """None for UTC (or no zone), else the loaded zone; raises ZoneError."""
    if name is None or name in UTC_NAMES:
        return None
    return load_zone(name)


def offset_at(zone: ZoneInfo, t: float) -> int:
    """The zone's UTC offset in whole seconds at instant t."""
    moment = datetime.fromtimestamp(min(max(t, _MIN_T), _MAX_T), UTC)
    offset = moment.astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


@lru_cache(maxsize=8192)
def _change_after(zone: ZoneInfo, t: int) -> int | None:
    """The first whole second > t where the offset differs from offset_at(t), within the horizon."""
    base = offset_at(zone, t)
    low = t
    for _ in range(_HORIZON_DAYS):
        high = low + _DAY
        if high > _MAX_T:
            return None
        if offset_at(zone, high) != base:
            while high - low > 1:  # offset(low) == base, offset(high) != base
                middle = (low + high) // 2
                if offset_at(zone, middle) == base:
                    low = middle
                else:
                    high = middle
            return high
        low = high
    return None


@lru_cache(maxsize=8192)
def _change_at_or_before(zone: ZoneInfo, t: int) -> int | None:
    """The latest whole second <= t where the offset became offset_at(t), within the horizon."""
    base = offset_at(zone, t)
    high = t
    for _ in range(_HORIZON_DAYS):
        low = high - _DAY
        if low < _MIN_T:
            return None
        if offset_at(zone, low) != base:
            while high - low > 1:  # offset(low) != base, offset(high) == base
                middle = (low + high) // 2
                if offset_at(zone, middle) == base:
                    high = middle
                else:
                    low = middle
            return high
        high = low
    return None


def segment_at(zone: ZoneInfo, t: float) -> tuple[int, int, int, int]:
    """(start, end, offset, offset before start): the constant-offset stretch holding t.

    start <= t < end. Without a change within the horizon the bounds are
    horizon-limited; the neighbouring stretch then has the same offset.
    """
    whole = math.floor(t)
    offset = offset_at(zone, whole)
    # Searches start from day boundaries or from changes already found, so they cache.
    bucket = whole - whole % _DAY
    end = _change_after(zone, bucket)
    while end is not None and end <= whole:
        end = _change_after(zone, end)
    if end is None:
        end = min(bucket + _HORIZON_DAYS * _DAY, _MAX_T + 1)
    start = _change_at_or_before(zone, bucket + _DAY)
    while start is not None and start > whole:
        start = _change_at_or_before(zone, start - 1)
    if start is None:
        start = max(bucket - _HORIZON_DAYS * _DAY, _MIN_T)
    return start, end, offset, offset_at(zone, start - 1)


def transitions_between(zone: ZoneInfo, start: float, end: float) -> list[tuple[int, int, int]]:
    """The offset changes in (start, end]: (instant, offset before, offset after)."""
    found: list[tuple[int, int, int]] = []
    t = math.floor(start)
    while t < end:
        change = _change_after(zone, t)
        if change is None:
            t += _HORIZON_DAYS * _DAY
            continue
        if change > end:
            break
        found.append((change, offset_at(zone, change - 1), offset_at(zone, change)))
        t = change
    return found


def _regular_floor(expr: CronExpr, start: int, offset: int, offset_before: int) -> int:
    """The first wall second whose matches count in a segment (a fold's repeat excluded)."""
    wall_start = start + offset
    if expr.fixed_time:
        return max(wall_start, start + offset_before)
    return wall_start


def _gap_fires(expr: CronExpr, start: int, offset: int, offset_before: int) -> bool:
    """Whether a fixed-time expression matches a wall time skipped just before `start`."""
    if not expr.fixed_time or offset_before >= offset:
        return False
    gap_from, gap_to = start + offset_before, start + offset  # wall times that never occur
    return next_after(expr, gap_from - 1) < gap_to


def next_after_in(expr: CronExpr, zone: ZoneInfo | None, after: float) -> float:
    """The first instant strictly after `after` at which `expr`, read in `zone`, fires."""
    if zone is None:
        return next_after(expr, after)
    start, end, offset, before = segment_at(zone, after)
    first = True
    while True:
        if not first and _gap_fires(expr, start, offset, before):
            return float(start)
        floor = _regular_floor(expr, start, offset, before)
        wall = next_after(expr, max(after + offset, floor - 1))
        if wall < end + offset:
            return wall - offset
        if end > _MAX_T:
            raise ValueError(f'cron expression "{expr.source}" never fires in year 9999 or before')
        first = False
        start, end, offset, before = segment_at(zone, end)


def prev_at_or_before_in(
    expr: CronExpr, zone: ZoneInfo | None, t: float, *, not_before: float | None = None
) -> float | None:
    """The latest firing instant <= t (and >= not_before when given), else None."""
    if zone is None:
        return prev_at_or_before(expr, t, not_before=not_before)
    limit = _MIN_T if not_before is None else not_before
    start, end, offset, before = segment_at(zone, t)
    upper = t
    while True:
        floor = _regular_floor(expr, start, offset, before)
        low_wall = max(floor, limit + offset)
        high_wall = min(upper + offset, end + offset - 1)
        if high_wall >= low_wall:
            wall = prev_at_or_before(expr, high_wall, not_before=low_wall)
            if wall is not None:
                return wall - offset
        if start <= upper and _gap_fires(expr, start, offset, before):
            return float(start) if start >= limit else None
        if start - 1 < limit or start <= _MIN_T:
            return None
        upper = start - 1
        start, end, offset, before = segment_at(zone, upper)


def count_matches_in(
    expr: CronExpr, zone: ZoneInfo | None, after: float, until: float, *, cap: int
) -> tuple[int, bool]:
    """How many firing instants lie in (after, until]; counting stops at `cap`."""
    if zone is None:
        return count_matches(expr, after, until, cap=cap)
    total = 0
    start, end, offset, before = segment_at(zone, after)
    while start <= until:
        # A gap's instant counts once, also when the wall time it lands on matches too.
        if after < start and _gap_fires(expr, start, offset, before):
            total += 0 if matches(expr, start + offset) else 1
        floor = _regular_floor(expr, start, offset, before)
        low_wall = max(after + offset, floor - 1)
        high_wall = min(until + offset, end + offset - 1)
        if high_wall > low_wall:
            found, _ = count_matches(expr, low_wall, high_wall, cap=cap)
            total += found
        if total >= cap:
            return cap, True
        if end > until or end > _MAX_T:
            break
        start, end, offset, before = segment_at(zone, end)
    return total, False
