"""Five-field UTC cron expressions: the syntax, parsing, and a description in words.

Matching and the search for the next, previous or counted minutes are in
scoot.schedule.cron_search; the calendar arithmetic in scoot.schedule.civil.

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

import re
from dataclasses import field

from scoot.schedule.civil import MAX_MONTH_DAYS
from scoot.shared.value_class import value_class

__all__ = ["CronError", "CronExpr", "describe_cron", "parse_cron"]

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


class CronError(ValueError):
    """A cron expression that cannot be used; the message is one line naming the problem."""


def _mask(values: tuple[int, ...]) -> int:
    bits = 0
    for value in values:
        bits |= 1 << value
    return bits


@value_class
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
        return any(day <= MAX_MONTH_DAYS[month] for month in self.months for day in self.days)

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
