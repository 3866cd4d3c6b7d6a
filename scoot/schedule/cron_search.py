"""Finding the minutes a cron expression matches: test one, the next, the previous, a count.

Pure functions of their inputs: no clock reads. Time is float Unix seconds (UTC);
every answer is a minute start (a multiple of 60). They terminate because
`CronExpr` refuses expressions that never match and the Gregorian calendar
repeats, weekdays included, every 400 years (`CYCLE_DAYS`).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right

from scoot.schedule.civil import (
    CYCLE_DAYS,
    civil_from_days,
    days_from_civil,
    days_in_month,
    weekday_of,
)
from scoot.schedule.cron import CronError, CronExpr

__all__ = [
    "DEFAULT_COUNT_CAP",
    "MINUTES_PER_DAY",
    "count_matches",
    "matches",
    "next_after",
    "prev_at_or_before",
]

MINUTES_PER_DAY = 1440
DEFAULT_COUNT_CAP = 100_000


def _next_matching_day(expr: CronExpr, day: int, last_day: int) -> int | None:
    """The first day number >= day (and <= last_day) whose date matches, else None."""
    year, month, mday = civil_from_days(day)
    while day <= last_day:
        if month not in expr.months:
            later = bisect_right(expr.months, month)
            next_year = year if later < len(expr.months) else year + 1
            month = expr.months[later] if later < len(expr.months) else expr.months[0]
            year, mday = next_year, 1
            day = days_from_civil(year, month, 1)
            continue
        month_days = days_in_month(year, month)
        while mday <= month_days:
            if day > last_day:
                return None  # the window ends inside this month
            if expr.day_matches(year, month, mday, weekday_of(day)):
                return day
            mday += 1
            day += 1
        year, month, mday = (year + 1, 1, 1) if month == 12 else (year, month + 1, 1)
    return None


def _prev_matching_day(expr: CronExpr, day: int, first_day: int) -> int | None:
    """The last day number <= day (and >= first_day) whose date matches, else None."""
    year, month, mday = civil_from_days(day)
    while day >= first_day:
        if month not in expr.months:
            earlier = bisect_left(expr.months, month) - 1
            prev_year = year if earlier >= 0 else year - 1
            month = expr.months[earlier]
            year = prev_year
            mday = days_in_month(year, month)
            day = days_from_civil(year, month, mday)
            continue
        while mday >= 1:
            if day < first_day:
                return None  # the window ends inside this month
            if expr.day_matches(year, month, mday, weekday_of(day)):
                return day
            mday -= 1
            day -= 1
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        mday = days_in_month(year, month)
    return None


def _first_minute_of_day_at_or_after(expr: CronExpr, minute_of_day: int) -> int | None:
    hour, minute = divmod(minute_of_day, 60)
    hour_index = bisect_left(expr.hours, hour)
    if hour_index < len(expr.hours) and expr.hours[hour_index] == hour:
        minute_index = bisect_left(expr.minutes, minute)
        if minute_index < len(expr.minutes):
            return hour * 60 + expr.minutes[minute_index]
        hour_index += 1
    if hour_index < len(expr.hours):
        return expr.hours[hour_index] * 60 + expr.minutes[0]
    return None


def _last_minute_of_day_at_or_before(expr: CronExpr, minute_of_day: int) -> int | None:
    hour, minute = divmod(minute_of_day, 60)
    hour_index = bisect_right(expr.hours, hour) - 1
    if hour_index >= 0 and expr.hours[hour_index] == hour:
        minute_index = bisect_right(expr.minutes, minute) - 1
        if minute_index >= 0:
            return hour * 60 + expr.minutes[minute_index]
        hour_index -= 1
    if hour_index >= 0:
        return expr.hours[hour_index] * 60 + expr.minutes[-1]
    return None


def _count_minutes_of_day(expr: CronExpr, first: int, last: int) -> int:
    """Matching minutes of one day with minute-of-day in [first, last]."""
    if first == 0 and last == MINUTES_PER_DAY - 1:
        return len(expr.hours) * len(expr.minutes)
    total = 0
    for hour in expr.hours:
        low = max(first - hour * 60, 0)
        high = min(last - hour * 60, 59)
        if low <= high:
            total += bisect_right(expr.minutes, high) - bisect_left(expr.minutes, low)
    return total


# --- public queries ----------------------------------------------------------------


def matches(expr: CronExpr, minute_start: float) -> bool:
    """Whether the minute containing `minute_start` matches (seconds are ignored)."""
    minute_index = math.floor(minute_start) // 60
    day, minute_of_day = divmod(minute_index, MINUTES_PER_DAY)
    hour, minute = divmod(minute_of_day, 60)
    if hour not in expr.hours or minute not in expr.minutes:
        return False
    year, month, mday = civil_from_days(day)
    return expr.day_matches(year, month, mday, weekday_of(day))


def next_after(expr: CronExpr, after: float) -> float:
    """The first matching minute start strictly after `after`.

    Skips by month, day and hour; never more than one Gregorian cycle of days,
    within which every expression that parses has a match.
    """
    start = math.floor(after) // 60 + 1
    day, minute_of_day = divmod(start, MINUTES_PER_DAY)
    last_day = day + CYCLE_DAYS + 366
    found_day = _next_matching_day(expr, day, last_day)
    if found_day == day:
        minute = _first_minute_of_day_at_or_after(expr, minute_of_day)
        if minute is not None:
            return float((day * MINUTES_PER_DAY + minute) * 60)
        found_day = _next_matching_day(expr, day + 1, last_day)
    if found_day is None:
        raise CronError(f'cron expression "{expr.source}" never matches')
    first_minute = expr.hours[0] * 60 + expr.minutes[0]
    return float((found_day * MINUTES_PER_DAY + first_minute) * 60)


def prev_at_or_before(expr: CronExpr, t: float, *, not_before: float | None = None) -> float | None:
    """The latest matching minute start <= t, or None if there is none >= `not_before`.

    Without `not_before` the search covers one Gregorian cycle, which always finds a
    match for an expression that parses; with it, the search stops there (cheap
    when the caller only cares about a recent window).
    """
    end = math.floor(t) // 60
    day, minute_of_day = divmod(end, MINUTES_PER_DAY)
    if not_before is None:
        first_day = day - CYCLE_DAYS - 366
        first_minute_index = first_day * MINUTES_PER_DAY
    else:
        first_minute_index = -(-math.ceil(not_before) // 60)
        first_day = first_minute_index // MINUTES_PER_DAY
    if end < first_minute_index:
        return None
    found_day = _prev_matching_day(expr, day, first_day)
    if found_day == day:
        minute = _last_minute_of_day_at_or_before(expr, minute_of_day)
        if minute is not None:
            found = day * MINUTES_PER_DAY + minute
            return float(found * 60) if found >= first_minute_index else None
        found_day = _prev_matching_day(expr, day - 1, first_day)
    if found_day is None:
        return None
    found = found_day * MINUTES_PER_DAY + expr.hours[-1] * 60 + expr.minutes[-1]
    return float(found * 60) if found >= first_minute_index else None


def count_matches(
    expr: CronExpr, after: float, until: float, *, cap: int = DEFAULT_COUNT_CAP
) -> tuple[int, bool]:
    """How many matching minute starts lie in (after, until]; counting stops at `cap`.

    Returns (count, capped); when capped is True the count is `cap` and the true
    number is at least that. Whole matching days are counted arithmetically.
    """
    first = math.floor(after) // 60 + 1
    last = math.floor(until) // 60
    if last < first:
        return 0, False
    first_day, last_day = first // MINUTES_PER_DAY, last // MINUTES_PER_DAY
    total = 0
    day: int | None = _next_matching_day(expr, first_day, last_day)
    while day is not None:
        low = first - day * MINUTES_PER_DAY if day == first_day else 0
        high = last - day * MINUTES_PER_DAY if day == last_day else MINUTES_PER_DAY - 1
        total += _count_minutes_of_day(expr, low, high)
        if total >= cap:
            return cap, True
        day = _next_matching_day(expr, day + 1, last_day) if day < last_day else None
    return total, False
