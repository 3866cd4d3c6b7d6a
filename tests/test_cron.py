"""Tests for scoot.schedule.cron: parsing, rejections, Vixie day rule, and search against a brute-force oracle."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoot.schedule.civil import civil_from_days, days_from_civil
from scoot.schedule.cron import CronError, CronExpr, describe_cron, parse_cron
from scoot.schedule.cron_search import count_matches, matches, next_after, prev_at_or_before


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: float = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() + second


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


# --- the oracle: an independent, deliberately naive matcher over datetime -------------

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _oracle_number(text: str, names: list[str], first: int) -> int:
    text = text.lower()
    return names.index(text) + first if text in names else int(text)


def _oracle_field(text: str, low: int, high: int, star_high: int, names: list[str]) -> set[int]:
    first = 1 if names is _MONTHS else 0
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        step = int(step_text) if slash else 1
        if base == "*":
            start, end = low, star_high
        elif "-" in base:
            start_text, end_text = base.split("-")
            start, end = (
                _oracle_number(start_text, names, first),
                _oracle_number(end_text, names, first),
            )
        else:
            start = _oracle_number(base, names, first)
            end = high if slash else start
        values.update(range(start, end + 1, step))
    return values


class Oracle:
    """Brute force over datetime: check each day, then each minute of a matching day."""

    def __init__(self, text: str) -> None:
        fields = text.split()
        self.minutes = _oracle_field(fields[0], 0, 59, 59, [])
        self.hours = _oracle_field(fields[1], 0, 23, 23, [])
        self.doms = _oracle_field(fields[2], 1, 31, 31, [])
        self.months = _oracle_field(fields[3], 1, 12, 12, _MONTHS)
        self.dows = {value % 7 for value in _oracle_field(fields[4], 0, 7, 6, _DAYS)}
        self.either_day = not fields[2].startswith("*") and not fields[4].startswith("*")

    def day_ok(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom_ok = day.day in self.doms
        dow_ok = day.isoweekday() % 7 in self.dows
        return (dom_ok or dow_ok) if self.either_day else (dom_ok and dow_ok)

    def minute_ok(self, moment: datetime) -> bool:
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and self.day_ok(moment.date())
        )

    def next_after(self, after: float, max_days: int) -> float | None:
        start = utc(after).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for offset in range(max_days):
            day = start.date() + timedelta(days=offset)
            if not self.day_ok(day):
                continue
            first = start.hour * 60 + start.minute if offset == 0 else 0
            for minute_of_day in range(first, 1440):
                hour, minute = divmod(minute_of_day, 60)
                if hour in self.hours and minute in self.minutes:
                    return datetime(
                        day.year, day.month, day.day, hour, minute, tzinfo=UTC
                    ).timestamp()
        return None

    def prev_at_or_before(self, t: float, max_days: int) -> float | None:
        start = utc(t).replace(second=0, microsecond=0)
        for offset in range(max_days):
            day = start.date() - timedelta(days=offset)
            if not self.day_ok(day):
                continue
            last = start.hour * 60 + start.minute if offset == 0 else 1439
            for minute_of_day in range(last, -1, -1):
                hour, minute = divmod(minute_of_day, 60)
                if hour in self.hours and minute in self.minutes:
                    return datetime(
                        day.year, day.month, day.day, hour, minute, tzinfo=UTC
                    ).timestamp()
        return None


# --- generated expressions ------------------------------------------------------------


def _field(
    low: int, high: int, max_step: int, names: list[str] | None = None
) -> st.SearchStrategy[str]:
    first = 1 if names is _MONTHS else 0

    def spell(value: int, use_name: bool) -> str:
        index = value - first
        if names and use_name and 0 <= index < len(names):
            return names[index].upper() if value % 2 else names[index]
        return str(value)

    value = st.builds(spell, st.integers(low, high), st.booleans())
    pair = st.tuples(st.integers(low, high), st.integers(low, high)).map(sorted)
    span = st.builds(
        lambda ab, named: f"{spell(ab[0], named)}-{spell(ab[1], named)}", pair, st.booleans()
    )
    step = st.integers(1, max_step).map(str)
    item = st.one_of(
        st.just("*"),
        value,
        span,
        st.builds(lambda s: f"*/{s}", step),
        st.builds(lambda r, s: f"{r}/{s}", span, step),
        st.builds(lambda v, s: f"{v}/{s}", value, step),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


expressions = st.builds(
    lambda *fields: " ".join(fields),
    _field(0, 59, 60),
    _field(0, 23, 24),
    _field(1, 31, 31),
    st.one_of(st.just("*"), _field(1, 12, 12, _MONTHS)),
    _field(0, 7, 7, _DAYS),
)
instants = st.builds(
    lambda whole, fraction: whole + fraction,
    st.integers(int(ts(2000, 1, 1)), int(ts(2100, 12, 31))),
    st.sampled_from([0.0, 0.25, 0.999]),
)
# Search horizon of the oracle; a rarer expression must then agree that nothing is closer.
ORACLE_DAYS = 3 * 366
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse_or_none(text: str) -> CronExpr | None:
    try:
        return parse_cron(text)
    except CronError as error:
        # Generated fields are well formed, so the only refusal is an impossible date.
        assert "never occurs" in str(error)
        return None


@PROPERTY
@given(expressions, instants)
def test_next_after_equals_brute_force(text: str, after: float) -> None:
    expr = _parse_or_none(text)
    if expr is None:
        return
    expected = Oracle(text).next_after(after, ORACLE_DAYS)
    found = next_after(expr, after)
    if expected is None:
        assert found >= ts(utc(after).year, 1, 1) + (ORACLE_DAYS - 366) * 86400
    else:
        assert found == expected, (text, utc(after), utc(found), utc(expected))
    assert matches(expr, found)


@PROPERTY
@given(expressions, instants)
def test_prev_at_or_before_equals_brute_force(text: str, t: float) -> None:
    expr = _parse_or_none(text)
    if expr is None:
        return
    expected = Oracle(text).prev_at_or_before(t, ORACLE_DAYS)
    found = prev_at_or_before(expr, t)
    assert found is not None
    if expected is None:
        assert found < t - (ORACLE_DAYS - 1) * 86400
    else:
        assert found == expected, (text, utc(t), utc(found), utc(expected))


@PROPERTY
@given(expressions, instants, st.integers(0, 2 * 1440))
def test_matches_and_count_equal_brute_force(text: str, start: float, window_minutes: int) -> None:
    expr = _parse_or_none(text)
    if expr is None:
        return
    oracle = Oracle(text)
    first_minute = utc(start).replace(second=0, microsecond=0) + timedelta(minutes=1)
    until = start + window_minutes * 60
    expected = 0
    moment = first_minute
    while moment.timestamp() <= until:
        hit = oracle.minute_ok(moment)
        assert matches(expr, moment.timestamp() + 59.5) == hit, (text, moment)
        expected += hit
        moment += timedelta(minutes=1)
    assert count_matches(expr, start, until) == (expected, False)


# croniter agrees with Vixie only where neither day field is a starred step (it treats
# `*/2` as restricted), without N/STEP in day-of-week, and without one-value ranges such
# as `1-1` (it reads them as `*`); check those as a second opinion.
def _plain_field(low: int, high: int) -> st.SearchStrategy[str]:
    pair = st.tuples(st.integers(low, high - 1), st.integers(1, high - low)).map(
        lambda start_width: (start_width[0], min(start_width[0] + start_width[1], high))
    )
    item = st.one_of(
        st.integers(low, high).map(str),
        pair.map(lambda ab: f"{ab[0]}-{ab[1]}"),
        st.builds(lambda ab, s: f"{ab[0]}-{ab[1]}/{s}", pair, st.integers(1, high - low + 1)),
    )
    return st.one_of(st.just("*"), st.lists(item, min_size=1, max_size=3).map(",".join))


croniter_expressions = st.builds(
    lambda *fields: " ".join(fields),
    st.one_of(_plain_field(0, 59), st.integers(1, 30).map(lambda s: f"*/{s}")),
    st.one_of(_plain_field(0, 23), st.integers(1, 12).map(lambda s: f"*/{s}")),
    _plain_field(1, 28),
    _plain_field(1, 12),
    _plain_field(0, 6),
)


@settings(max_examples=100, deadline=None)
@given(croniter_expressions, instants)
def test_next_and_prev_agree_with_croniter(text: str, after: float) -> None:
    expr = parse_cron(text)
    assert next_after(expr, after) == croniter(text, after).get_next(float)
    minute_start = float(int(after) // 60 * 60)
    assert prev_at_or_before(expr, minute_start - 0.5) == croniter(text, minute_start).get_prev(
        float
    )


@settings(max_examples=300, deadline=None)
@given(st.integers(days_from_civil(1, 1, 1), days_from_civil(9999, 12, 31)))
def test_civil_calendar_matches_datetime(day_number: int) -> None:
    expected = date(1970, 1, 1) + timedelta(days=day_number)
    assert civil_from_days(day_number) == (expected.year, expected.month, expected.day)
    assert days_from_civil(expected.year, expected.month, expected.day) == day_number


# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cron expression is empty"),
        ("   ", "cron expression is empty"),
        ("* * * *", r'"\* \* \* \*" has 4 field\(s\); expected exactly 5'),
        ("* * * * * *", "has 6 field"),
        ("1,,2 * * * *", "cron field 'minute' has an empty list item in \"1,,2\""),
        ("* 1, * * *", "cron field 'hour' has an empty list item"),
        ("* * * * ,1", "cron field 'day-of-week' has an empty list item"),
        ("5-3 * * * *", "cron field 'minute' range 5-3 is reversed"),
        ("* * * * sat-sun", "cron field 'day-of-week' range sat-sun is reversed"),
        ("*/0 * * * *", "cron field 'minute' step 0 out of range 1-60"),
        ("* 1-5/0 * * *", "cron field 'hour' step 0 out of range 1-24"),
        ("*/61 * * * *", "cron field 'minute' step 61 out of range 1-60"),
        ("60 * * * *", "cron field 'minute' value 60 out of range 0-59"),
        ("0 24 * * *", "cron field 'hour' value 24 out of range 0-23"),
        ("0 0 0 * *", "cron field 'day-of-month' value 0 out of range 1-31"),
        ("0 0 32 * *", "cron field 'day-of-month' value 32 out of range 1-31"),
        ("0 0 * 0 *", "cron field 'month' value 0 out of range 1-12"),
        ("0 0 * 13 *", "cron field 'month' value 13 out of range 1-12"),
        ("0 0 * * 8", "cron field 'day-of-week' value 8 out of range 0-7"),
        ("0 0 * * 1-9", "cron field 'day-of-week' value 9 out of range 0-7"),
        ("x * * * *", "cron field 'minute' has invalid value \"x\""),
        ("0 mon * * *", 'cron field \'hour\' has invalid value "mon" in "mon" \\(numbers only\\)'),
        ("0 0 * foo *", "cron field 'month' has invalid value \"foo\""),
        ("0 0 * * monday", "cron field 'day-of-week' has invalid value \"monday\""),
        ("0 0 * jan *", None),
        ("1-2-3 * * * *", "cron field 'minute' has invalid item \"1-2-3\""),
        ("*/ * * * *", "cron field 'minute' has invalid item"),
        ("/5 * * * *", "cron field 'minute' has invalid item"),
        ("5/ * * * *", "cron field 'minute' has invalid item"),
        ("-1 * * * *", "cron field 'minute' has invalid item"),
        ("+1 * * * *", "cron field 'minute' has invalid item"),
        ("*-5 * * * *", "cron field 'minute' has invalid item"),
        ("0 0 ? * *", "cron field 'day-of-month' has invalid item \"\\?\""),
        ("0 0 L * *", "cron field 'day-of-month' has invalid value \"l\""),
        ("0 0 * * 1#2", "cron field 'day-of-week' has invalid item"),
        ("0 0 ² * *", "cron field 'day-of-month' has invalid item"),
        ("@reboot", "cron @reboot is not supported"),
        ("@every 5m", 'unknown cron alias "@every 5m"'),
        ("0 0 30 2 *", "cron field 'day-of-month' never occurs .*\"0 0 30 2 \\*\""),
        ("0 0 31 4,6,9,11 *", "cron field 'day-of-month' never occurs"),
        # `*/2` counts as unrestricted (Vixie), so it ANDs with Feb 31 and never matches.
        ("0 0 30,31 feb */2", "cron field 'day-of-month' never occurs"),
    ],
)
def test_rejections_name_field_and_problem(text: str, message: str | None) -> None:
    if message is None:
        assert parse_cron(text).months == (1,)
        return
    with pytest.raises(CronError, match=message) as caught:
        parse_cron(text)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "text",
    ["0 0 29 2 *", "0 0 31 2-3 *", "0 0 30 2 1", "0 0 30,31 feb mon", "0 0 31 * *"],
)
def test_dates_that_exist_somewhere_parse(text: str) -> None:
    assert parse_cron(text).source == text


def test_fields_names_and_sunday_spellings() -> None:
    expr = parse_cron("  5,10-12  */6\t1 JAN,Mar-may   Mon-FRI ")
    assert expr.source == "5,10-12 */6 1 JAN,Mar-may Mon-FRI"
    assert expr.minutes == (5, 10, 11, 12)
    assert expr.hours == (0, 6, 12, 18)
    assert expr.days == (1,)
    assert expr.months == (1, 3, 4, 5)
    assert expr.weekdays == (1, 2, 3, 4, 5)
    assert parse_cron("0 0 * * 7").weekdays == parse_cron("0 0 * * 0").weekdays == (0,)
    assert parse_cron("0 0 * * sun").weekdays == (0,)
    assert parse_cron("0 0 * * 5-7").weekdays == (0, 5, 6)
    assert parse_cron("0 0 * * 0-7").weekdays == tuple(range(7))
    # N/STEP runs to the field's maximum; for day-of-week that is 7 = Sunday.
    assert parse_cron("5/20 * * * *").minutes == (5, 25, 45)
    assert parse_cron("0 0 * * 1/2").weekdays == (0, 1, 3, 5)
    assert parse_cron("0 1-10/4 * * *").hours == (1, 5, 9)
    assert parse_cron("*/60 * * * *").minutes == (0,)


def test_restricted_flags_follow_the_star_rule() -> None:
    assert not parse_cron("* * * * *").dom_restricted
    assert not parse_cron("0 0 */2 * *").dom_restricted
    assert parse_cron("0 0 1-31 * *").dom_restricted
    assert not parse_cron("0 0 * * */3").dow_restricted
    assert parse_cron("0 0 * * 0-7").dow_restricted


def test_aliases_expand_and_keep_their_name() -> None:
    for alias, fields in [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@ANNUALLY", "0 0 1 1 *"),
    ]:
        expr = parse_cron(alias)
        plain = parse_cron(fields)
        assert expr.source == alias
        assert (expr.minutes, expr.hours, expr.days, expr.months, expr.weekdays) == (
            plain.minutes,
            plain.hours,
            plain.days,
            plain.months,
            plain.weekdays,
        )


def test_direct_construction_is_validated() -> None:
    good = {"minutes": (0,), "hours": (0,), "days": (1,), "months": (1,), "weekdays": (0,)}
    flags = {"dom_restricted": True, "dow_restricted": False}
    assert CronExpr(source="x", **good, **flags).days == (1,)
    with pytest.raises(CronError, match="cron field 'hour' allows no value"):
        CronExpr(source="x", **{**good, "hours": ()}, **flags)
    with pytest.raises(CronError, match="cron field 'day-of-week' values must be sorted"):
        CronExpr(source="x", **{**good, "weekdays": (7,)}, **flags)
    with pytest.raises(CronError, match="cron field 'minute' values must be sorted"):
        CronExpr(source="x", **{**good, "minutes": (5, 1)}, **flags)
    with pytest.raises(CronError, match="never occurs"):
        CronExpr(source="x", **{**good, "days": (30,), "months": (2,)}, **flags)


# --- matching semantics -------------------------------------------------------------------


def _matching_days(text: str, year: int) -> set[date]:
    expr = parse_cron(text)
    found: set[date] = set()
    t = ts(year, 1, 1) - 1
    while True:
        t = next_after(expr, t)
        if utc(t).year != year:
            return found
        found.add(utc(t).date())


def test_vixie_or_rule_when_both_day_fields_are_restricted() -> None:
    days = _matching_days("0 0 13 * 5", 2026)
    thirteenths = {date(2026, month, 13) for month in range(1, 13)}
    fridays = {date(2026, 1, 2) + timedelta(weeks=week) for week in range(52)}
    assert days == thirteenths | fridays
    # A full 1-31 range is still "restricted", so OR with Monday makes every day match.
    assert len(_matching_days("0 0 1-31 * mon", 2026)) == 365


def test_vixie_and_rule_when_a_day_field_starts_with_star() -> None:
    days = _matching_days("0 0 */2 * 5", 2026)
    assert days == {day for day in _matching_days("0 0 * * 5", 2026) if day.day % 2 == 1}
    assert date(2026, 1, 2) not in days  # a Friday, but an even day
    assert date(2026, 1, 9) in days
    assert _matching_days("0 0 * * 1", 2026) == {
        date(2026, 1, 5) + timedelta(weeks=week) for week in range(52)
    }


def test_leap_days() -> None:
    leap = parse_cron("0 0 29 2 *")
    assert utc(next_after(leap, ts(2025, 3, 1))) == datetime(2028, 2, 29, tzinfo=UTC)
    # 2100 is not a leap year.
    assert utc(next_after(leap, ts(2096, 3, 1))) == datetime(2104, 2, 29, tzinfo=UTC)
    assert utc(prev_at_or_before(leap, ts(2103, 12, 31)) or 0) == datetime(2096, 2, 29, tzinfo=UTC)
    assert prev_at_or_before(leap, ts(2028, 2, 29)) == ts(2028, 2, 29)
    assert prev_at_or_before(leap, ts(2028, 2, 29) - 0.001) == ts(2024, 2, 29)


def test_rare_expression_terminates_quickly() -> None:
    # Feb 29 that is a Sunday: `*/7` on day-of-week is only Sunday and, starting with
    # `*`, ANDs with day 29. Gaps between matches run to decades.
    rare = parse_cron("0 0 29 2 */7")
    oracle = Oracle("0 0 29 2 */7")
    started = time.perf_counter()
    t = ts(2000, 1, 1)
    years = []
    for _ in range(6):
        found = next_after(rare, t)
        assert found == oracle.next_after(t, 60 * 366)
        assert prev_at_or_before(rare, found + 86400) == found
        years.append(utc(found).year)
        t = found
    # 2100 is not a leap year, hence the 40-year gap.
    assert years == [2004, 2032, 2060, 2088, 2128, 2156]
    assert time.perf_counter() - started < 1.0


def test_month_and_year_ends() -> None:
    last_day = parse_cron("0 0 31 * *")
    assert utc(next_after(last_day, ts(2026, 1, 31))) == datetime(2026, 3, 31, tzinfo=UTC)
    assert utc(prev_at_or_before(last_day, ts(2026, 3, 30)) or 0) == datetime(
        2026, 1, 31, tzinfo=UTC
    )
    new_year = parse_cron("59 23 31 12 *")
    assert utc(next_after(new_year, ts(2026, 12, 31, 23, 59))) == datetime(
        2027, 12, 31, 23, 59, tzinfo=UTC
    )
    every = parse_cron("* * * * *")
    assert next_after(every, ts(2026, 12, 31, 23, 59, 30)) == ts(2027, 1, 1)
    assert prev_at_or_before(every, ts(2027, 1, 1) - 0.5) == ts(2026, 12, 31, 23, 59)
    assert utc(next_after(parse_cron("0 0 1 1 *"), ts(2026, 6, 1))) == datetime(
        2027, 1, 1, tzinfo=UTC
    )


def test_next_is_strictly_after_and_prev_is_at_or_before() -> None:
    every_five = parse_cron("*/5 * * * *")
    noon = ts(2026, 5, 1, 12)
    assert next_after(every_five, noon) == noon + 300
    assert next_after(every_five, noon - 0.001) == noon
    assert prev_at_or_before(every_five, noon) == noon
    assert prev_at_or_before(every_five, noon + 299.9) == noon
    assert prev_at_or_before(every_five, noon - 0.001) == noon - 300


def test_prev_not_before_bounds_the_search() -> None:
    daily = parse_cron("0 3 * * *")
    noon = ts(2026, 5, 1, 12)
    assert prev_at_or_before(daily, noon, not_before=noon - 3600) is None
    assert prev_at_or_before(daily, noon, not_before=ts(2026, 5, 1, 3)) == ts(2026, 5, 1, 3)
    assert prev_at_or_before(daily, noon, not_before=ts(2026, 5, 1, 3) + 1) is None
    assert prev_at_or_before(daily, noon, not_before=noon + 1) is None


def test_matches_ignores_seconds() -> None:
    expr = parse_cron("30 12 * * *")
    assert matches(expr, ts(2026, 5, 1, 12, 30))
    assert matches(expr, ts(2026, 5, 1, 12, 30, 59.9))
    assert not matches(expr, ts(2026, 5, 1, 12, 31))
    assert not matches(expr, ts(2026, 5, 1, 12, 29, 59.9))


def test_count_matches_counts_whole_days_and_caps() -> None:
    every = parse_cron("* * * * *")
    start = ts(2026, 1, 1)
    assert count_matches(every, start, start + 7 * 86400) == (7 * 1440, False)
    assert count_matches(every, start, start) == (0, False)
    assert count_matches(every, start + 10, start - 10) == (0, False)
    assert count_matches(every, start, start + 100 * 86400, cap=1000) == (1000, True)
    hourly_weekdays = parse_cron("15 * * * mon-fri")
    # 2026-01-01 is a Thursday: Thu and Fri, then Mon to Fri.
    assert count_matches(hourly_weekdays, start, start + 7 * 86400) == (5 * 24, False)


def test_describe_in_words() -> None:
    assert describe_cron(parse_cron("* * * * *")) == "every minute"
    assert describe_cron(parse_cron("*/5 * * * *")) == "every 5 minutes"
    assert describe_cron(parse_cron("0,30 * * * *")) == "every 30 minutes"
    assert describe_cron(parse_cron("7 * * * *")) == "every hour at :07"
    assert describe_cron(parse_cron("0 3 * * *")) == "at 03:00 UTC every day"
    assert describe_cron(parse_cron("@daily")) == "at 00:00 UTC every day"
    assert (
        describe_cron(parse_cron("30 9 * * mon-fri")) == "at 09:30 UTC on Mon, Tue, Wed, Thu, Fri"
    )
    assert describe_cron(parse_cron("0 6 1 * *")) == "at 06:00 UTC on day 1 of every month"
    assert describe_cron(parse_cron("0 0 1-31 * mon")) == "at 00:00 UTC every day"
    for odd in ["*/7 * * * *", "0 0 13 * 5", "0 0 1 jan *", "0 */2 * * *", "1,2 3 * * *"]:
        assert describe_cron(parse_cron(odd)) == f'cron "{odd}" (UTC)'
