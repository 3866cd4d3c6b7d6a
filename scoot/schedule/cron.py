"""Five-field UTC cron expressions: parse, match, and find the next or previous matching minute.

Pure functions of their inputs: no clock reads. Time is float Unix seconds (UTC);
the unit of matching is the minute, and every answer is a minute start (a multiple
of 60). Dates are computed with integer civil-calendar arithmetic, so any year works.

Syntax, per field (whitespace separates fields; exactly five):

    minute 0-59   hour 0-23   day-of-month 1-31   month 1-12 or jan-dec
    day-of-week 0-7 or sun-sat (0 and 7 are both Sunday)

An item is `*`, `N`, `N-M`, optionally followed by `/STEP`; `N/STEP` means
`N-<field max>/STEP` (for day-of-week the max is 7, as in Vixie and cronie, so
`1/2` is Mon, Wed, Fri, Sun). Items combine with commas. Names are three letters,
case-insensitive, allowed only in the month and day-of-week fields. The aliases
@hourly, @daily, @midnight, @weekly, @monthly, @yearly and @annually are accepted;
@reboot is refused, since a scheduled job needs a time.

Day matching follows Vixie cron exactly: a field counts as *restricted* when its
text does not start with `*`. When both day-of-month and day-of-week are
restricted, a day matches when EITHER matches (`0 0 13 * 5` = every 13th and every
Friday); otherwise both must match. Note the star rule: `*/2` starts with `*`, so it
is unrestricted for this purpose and `0 0 */2 * 5` means odd days that are Fridays.

Why not croniter: it departs from Vixie where scoot must not (a starred step such as
`*/2` in a day field, single-value ranges like `1-1`, Sunday in a day-of-week
`a/n`), and a scheduler that promises exactly-once per instant needs the rule it
documents. croniter stays in the test extra as a second oracle where the two agree.

An expression that can never match (such as `0 0 30 2 *`) is refused at parse time,
which is what guarantees that `next_after` and `prev_at_or_before` terminate: the
Gregorian calendar repeats, weekdays included, every 400 years.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

__all__ = [
    "CronError",
    "CronExpr",
    "civil_from_days",
    "count_matches",
    "days_from_civil",
    "days_in_month",
    "describe_cron",
    "matches",
    "next_after",
    "parse_cron",
    "prev_at_or_before",
    "weekday_of",
]

MINUTES_PER_DAY = 1440
# One Gregorian cycle: dates and weekdays repeat exactly after this many days.
_CYCLE_DAYS = 146_097
DEFAULT_COUNT_CAP = 100_000

_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
# (lowest value, highest value accepted in a range or N/STEP, largest step).
_FIELD_BOUNDS = ((0, 59, 60), (0, 23, 24), (1, 31, 31), (1, 12, 12), (0, 7, 7))
_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_WEEKDAY_NAMES = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
_NAMES_BY_FIELD: tuple[dict[str, int] | None, ...] = (
    None,
    None,
    None,
    _MONTH_NAMES,
    _WEEKDAY_NAMES,
)
_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_ITEM_PATTERN = re.compile(r"(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?")
# Longest day-of-month each month can have (February: leap years).
_MAX_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class CronError(ValueError):
    """A cron expression that cannot be used; the message is one line naming the problem."""


def _mask(values: tuple[int, ...]) -> int:
    bits = 0
    for value in values:
        bits |= 1 << value
    return bits


@dataclass(frozen=True)
class CronExpr:
    """A parsed cron expression: the sorted values each field allows, and the Vixie flags.

    `weekdays` uses 0-6 with Sunday = 0 (a 7 in the source is folded to 0).
    `dom_restricted` / `dow_restricted` are True when that field's text does not
    start with `*` (the Vixie rule; see the module docstring).
    """

    source: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]
    dom_restricted: bool
    dow_restricted: bool
    # cronie's "fixed time": neither the minute nor the hour field starts with `*`.
    # Only these get the daylight-saving rules of scoot.schedule.zoned (see there).
    fixed_time: bool = False
    _day_mask: int = field(init=False, repr=False, compare=False)
    _month_mask: int = field(init=False, repr=False, compare=False)
    _weekday_mask: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        checks = (
            (self.minutes, 0, 59),
            (self.hours, 0, 23),
            (self.days, 1, 31),
            (self.months, 1, 12),
            (self.weekdays, 0, 6),
        )
        for name, (values, low, high) in zip(_FIELD_NAMES, checks, strict=True):
            if not values:
                raise CronError(f"cron field '{name}' allows no value")
            if list(values) != sorted(set(values)) or values[0] < low or values[-1] > high:
                raise CronError(
                    f"cron field '{name}' values must be sorted, distinct and within {low}-{high}"
                )
        object.__setattr__(self, "_day_mask", _mask(self.days))
        object.__setattr__(self, "_month_mask", _mask(self.months))
        object.__setattr__(self, "_weekday_mask", _mask(self.weekdays))
        if not self._some_date_can_match():
            raise CronError(
                f"cron field 'day-of-month' never occurs in the allowed months of "
                f'"{self.source}" (like Feb 30); fix the day or the month'
            )

    def _some_date_can_match(self) -> bool:
        # In OR mode any weekday occurs in every month. In AND mode every valid
        # (month, day) falls on every weekday somewhere in the 400-year cycle, so
        # only the month lengths can rule a date out.
        if self.dom_restricted and self.dow_restricted:
            return True
        return any(day <= _MAX_MONTH_DAYS[month] for month in self.months for day in self.days)

    def day_matches(self, year: int, month: int, day: int, weekday: int) -> bool:
        """Whether a calendar day matches the month, day-of-month and day-of-week fields."""
        if not (self._month_mask >> month) & 1:
            return False
        dom_ok = bool((self._day_mask >> day) & 1)
        dow_ok = bool((self._weekday_mask >> weekday) & 1)
        if self.dom_restricted and self.dow_restricted:
            return dom_ok or dow_ok
        return dom_ok and dow_ok


# --- parsing -------------------------------------------------------------------


def parse_cron(expr: str) -> CronExpr:
    """Parse a 5-field UTC cron expression (or an @alias); raise CronError with one clear line."""
    source = " ".join(expr.split())
    if not source:
        raise CronError(
            "cron expression is empty; expected 5 fields: minute hour day month weekday"
        )
    text = source
    if source.startswith("@"):
        alias = source.lower()
        if alias == "@reboot":
            raise CronError(
                "cron @reboot is not supported: a scheduled job needs a time; "
                "use every_sec, at_unix or a 5-field expression"
            )
        if alias not in _ALIASES:
            raise CronError(
                f'unknown cron alias "{source}"; use @hourly, @daily, @weekly, @monthly, '
                "@yearly or a 5-field expression"
            )
        text = _ALIASES[alias]
    fields = text.split()
    if len(fields) != 5:
        raise CronError(
            f'cron expression "{source}" has {len(fields)} field(s); expected exactly 5: '
            "minute hour day-of-month month day-of-week"
        )
    values = [_parse_field(index, text_field) for index, text_field in enumerate(fields)]
    weekdays = tuple(sorted({0 if day == 7 else day for day in values[4]}))
    return CronExpr(
        source=source,
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        dom_restricted=not fields[2].startswith("*"),
        dow_restricted=not fields[4].startswith("*"),
        fixed_time=not fields[0].startswith("*") and not fields[1].startswith("*"),
    )


def _parse_field(index: int, text: str) -> tuple[int, ...]:
    name = _FIELD_NAMES[index]
    low, high, max_step = _FIELD_BOUNDS[index]
    # `*` means the real days of the week, 0-6; 7 is only an alternative spelling of Sunday.
    star_high = 6 if index == 4 else high
    if text == "*":  # the common cases first: config files with thousands of jobs
        return tuple(range(low, star_high + 1))
    if text.isascii() and text.isdigit():
        return (_parse_value(index, text, text),)
    selected: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"cron field '{name}' has an empty list item in \"{text}\"")
        match = _ITEM_PATTERN.fullmatch(item.lower())
        if match is None:
            raise CronError(
                f"cron field '{name}' has invalid item \"{item}\" "
                "(expected *, N, N-M, with an optional /STEP)"
            )
        star, start_text, end_text, step_text = match.groups()
        step = 1
        if step_text is not None:
            step = int(step_text)
            if not 1 <= step <= max_step:
                raise CronError(f"cron field '{name}' step {step} out of range 1-{max_step}")
        if star:
            start, end = low, star_high
        else:
            start = _parse_value(index, start_text, item)
            if end_text is not None:
                end = _parse_value(index, end_text, item)
                if start > end:
                    raise CronError(
                        f"cron field '{name}' range {item} is reversed; write the smaller value first"
                    )
            elif step_text is not None:
                end = high
            else:
                end = start
        selected.update(range(start, end + 1, step))
    return tuple(sorted(selected))


def _parse_value(index: int, text: str, item: str) -> int:
    name = _FIELD_NAMES[index]
    low, high, _ = _FIELD_BOUNDS[index]
    if text.isdigit():
        value = int(text)
        if not low <= value <= high:
            raise CronError(f"cron field '{name}' value {value} out of range {low}-{high}")
        return value
    names = _NAMES_BY_FIELD[index]
    if names is None or text not in names:
        hint = f"names like {next(iter(names))}" if names else "numbers only"
        raise CronError(f'cron field \'{name}\' has invalid value "{text}" in "{item}" ({hint})')
    return names[text]


# --- calendar arithmetic ---------------------------------------------------------


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * _CYCLE_DAYS + day_of_era - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day number counted from 1970-01-01."""
    days += 719_468
    era = days // _CYCLE_DAYS
    day_of_era = days - era * _CYCLE_DAYS
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + (3 if shifted_month < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


def weekday_of(days: int) -> int:
    """Day of the week of a day number, Sunday = 0 (1970-01-01 was a Thursday)."""
    return (days + 4) % 7


def days_in_month(year: int, month: int) -> int:
    """Number of days in a month of the proleptic Gregorian calendar."""
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return _MAX_MONTH_DAYS[month]


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
    last_day = day + _CYCLE_DAYS + 366
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
        first_day = day - _CYCLE_DAYS - 366
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


# --- description -----------------------------------------------------------------

_WEEKDAY_LABELS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def describe_cron(expr: CronExpr) -> str:
    """A short description in words, e.g. `every 5 minutes` or `at 03:00 UTC every day`."""
    all_minutes = len(expr.minutes) == 60
    all_hours = len(expr.hours) == 24
    all_months = len(expr.months) == 12
    all_doms = len(expr.days) == 31
    all_dows = len(expr.weekdays) == 7
    either_day = expr.dom_restricted and expr.dow_restricted
    every_day = (all_doms or all_dows) if either_day else (all_doms and all_dows)
    fallback = f'cron "{expr.source}" (UTC)'
    if not all_months:
        return fallback
    if every_day and all_hours:
        if all_minutes:
            return "every minute"
        step = _even_step(expr.minutes, 60)
        if step is not None:
            return f"every {step} minutes"
        if len(expr.minutes) == 1:
            return f"every hour at :{expr.minutes[0]:02d}"
        return fallback
    if len(expr.minutes) != 1 or len(expr.hours) != 1:
        return fallback
    clock = f"at {expr.hours[0]:02d}:{expr.minutes[0]:02d} UTC"
    if every_day:
        return f"{clock} every day"
    if not either_day and all_doms:
        return f"{clock} on {', '.join(_WEEKDAY_LABELS[day] for day in expr.weekdays)}"
    if not either_day and all_dows and len(expr.days) == 1:
        return f"{clock} on day {expr.days[0]} of every month"
    return fallback


def _even_step(values: tuple[int, ...], span: int) -> int | None:
    """The step n when values are exactly 0, n, 2n, ... and n divides span evenly."""
    if len(values) < 2:
        return None
    step = values[1] - values[0]
    if values[0] != 0 or span % step or values != tuple(range(0, span, step)):
        return None
    return step
