"""Cron in time zones, checked against a brute-force oracle over whole years.

The oracle walks every UTC minute of a year, converts it with `datetime` and
applies cronie's rules directly: a fixed-time job fires at a matching wall
minute's first occurrence (fold == 0) and at the first minute after a gap in
which a matching wall minute was skipped; any other job fires at every minute
whose wall time matches. The code under test goes the other way (wall time to
UTC, segment by segment), so the two share nothing but the parsed fields.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoot.schedule.cron import CronExpr, parse_cron
from scoot.schedule.jobs import validate_jobs
from scoot.schedule.planner import plan
from scoot.schedule.triggers import Trigger
from scoot.schedule.zoned import (
    ZoneError,
    count_matches_in,
    load_zone,
    next_after_in,
    prev_at_or_before_in,
)

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "UTC")
# Fixed times inside and around the gaps and folds of those zones, and real-minute jobs.
EXPRESSIONS = (
    "30 2 * * *",  # inside the spring-forward gap in Berlin, New York, Sydney
    "0,15,30,45 1,2,3 * * *",  # the whole transition hours, fixed
    "45 1 * * 0",  # New York's repeated hour, on Sundays (transition days)
    "10 2 * * *",  # Lord Howe's 30-minute gap (02:00-02:30)
    "*/20 * * * *",  # real minutes
    "0 * * * *",  # hourly: hour field starred, so real minutes too
    "0 0 1 * *",
)
YEAR = 2026


@dataclass
class _Year:
    """Every UTC minute of a year (a day either side) in one zone, indexed for the oracle."""

    first: int
    last: int
    # (hour, minute) of the wall time -> [(UTC minute, wall time)], in UTC order.
    by_clock: dict[tuple[int, int], list[tuple[int, datetime]]]
    # (UTC minute after a gap, the wall minutes the gap skipped).
    gaps: list[tuple[int, list[datetime]]]


@cache
def _year(zone_name: str, year: int) -> _Year:
    zone = ZoneInfo(zone_name)
    first = int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) - 86_400
    last = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()) + 86_400
    by_clock: dict[tuple[int, int], list[tuple[int, datetime]]] = defaultdict(list)
    gaps = []
    previous = None
    for u in range(first, last + 1, 60):
        wall = datetime.fromtimestamp(u, zone)
        by_clock[(wall.hour, wall.minute)].append((u, wall))
        if previous is not None:
            naive, before = wall.replace(tzinfo=None), previous.replace(tzinfo=None)
            skipped = int((naive - before).total_seconds()) // 60 - 1
            if skipped > 0:
                gaps.append((u, [before + timedelta(minutes=k) for k in range(1, skipped + 1)]))
        previous = wall
    return _Year(first, last, dict(by_clock), gaps)


def _wall_matches(expr: CronExpr, wall: datetime) -> bool:
    if wall.minute not in expr.minutes or wall.hour not in expr.hours:
        return False
    if wall.month not in expr.months:
        return False
    dom_ok = wall.day in expr.days
    dow_ok = wall.isoweekday() % 7 in expr.weekdays
    if expr.dom_restricted and expr.dow_restricted:
        return dom_ok or dow_ok
    return dom_ok and dow_ok


def oracle(expr: CronExpr, zone_name: str, year: int) -> list[int]:
    data = _year(zone_name, year)
    fires = set()
    for hour in expr.hours:
        for minute in expr.minutes:
            for u, wall in data.by_clock.get((hour, minute), ()):
                if expr.fixed_time and wall.fold == 1:
                    continue  # a repeated wall time: fixed times ran at its first occurrence
                if _wall_matches(expr, wall):
                    fires.add(u)
    if expr.fixed_time:
        for u, skipped in data.gaps:
            if any(_wall_matches(expr, wall) for wall in skipped):
                fires.add(u)
    return sorted(fires)


def _window(zone_name: str, year: int) -> tuple[int, int]:
    data = _year(zone_name, year)
    return data.first, data.last


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("source", EXPRESSIONS)
def test_a_whole_year_matches_the_oracle(zone_name: str, source: str) -> None:
    expr = parse_cron(source)
    zone = None if zone_name == "UTC" else load_zone(zone_name)
    expected = oracle(expr, zone_name, YEAR)
    first, last = _window(zone_name, YEAR)
    got = []
    t: float = first - 1
    while True:
        t = next_after_in(expr, zone, t)
        if t > last:
            break
        got.append(int(t))
    assert got == expected
    # The backward search and the count agree with the same list.
    assert prev_at_or_before_in(expr, zone, last) == float(expected[-1])
    middle = expected[len(expected) // 2]
    assert prev_at_or_before_in(expr, zone, middle + 59) == float(middle)
    before_middle = expected[len(expected) // 2 - 1]
    assert prev_at_or_before_in(expr, zone, middle - 1, not_before=before_middle) == before_middle
    assert prev_at_or_before_in(expr, zone, middle - 1, not_before=before_middle + 1) is None
    assert count_matches_in(expr, zone, first - 1, last, cap=10**7) == (len(expected), False)


def test_the_oracle_sees_the_transitions_it_is_meant_to_check() -> None:
    # Spring forward in Berlin 2026-03-29 02:00 -> 03:00: 02:30 fires once, at 01:00 UTC.
    berlin = oracle(parse_cron("30 2 * * *"), "Europe/Berlin", YEAR)
    spring = int(datetime(2026, 3, 29, 1, 0, tzinfo=UTC).timestamp())
    assert spring in berlin
    # Fall back in New York 2026-11-01 02:00 -> 01:00: 01:45 fires once (EDT, 05:45 UTC).
    new_york = oracle(parse_cron("45 1 * * 0"), "America/New_York", YEAR)
    first_145 = int(datetime(2026, 11, 1, 5, 45, tzinfo=UTC).timestamp())
    assert first_145 in new_york and first_145 + 3600 not in new_york
    # Real minutes run twice in the repeated hour (Sydney, April) and not in the gap.
    sydney = oracle(parse_cron("0 * * * *"), "Australia/Sydney", YEAR)
    per_day: dict[str, int] = {}
    for u in sydney:
        day = datetime.fromtimestamp(u, ZoneInfo("Australia/Sydney")).date().isoformat()
        per_day[day] = per_day.get(day, 0) + 1
    assert per_day["2026-04-05"] == 25 and per_day["2026-10-04"] == 23
    # Lord Howe shifts by 30 minutes: 02:10 on 2026-10-04 does not exist, fires at 02:30.
    lord_howe = oracle(parse_cron("10 2 * * *"), "Australia/Lord_Howe", YEAR)
    gap_end = int(datetime(2026, 10, 3, 15, 30, tzinfo=UTC).timestamp())
    assert gap_end in lord_howe


@settings(max_examples=60, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES[:-1]),
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    start=st.integers(1_700_000_000, 2_000_000_000),
)
def test_spot_checks_fixed_times_fire_once_per_local_day(
    zone_name: str, minute: int, hour: int, start: int
) -> None:
    """A daily fixed time fires exactly once on each local date, at or after its wall time."""
    expr = parse_cron(f"{minute} {hour} * * *")
    zone = load_zone(zone_name)
    t: float = start
    dates = []
    for _ in range(5):
        t = next_after_in(expr, zone, t)
        wall = datetime.fromtimestamp(t, zone)
        dates.append(wall.date())
        on_time = (wall.hour, wall.minute) == (hour, minute)
        after_gap = datetime.fromtimestamp(t - 1, zone).utcoffset() != wall.utcoffset()
        assert on_time or after_gap
        assert wall.fold == 0
    assert len(set(dates)) == 5
    assert all((b - a).days == 1 for a, b in zip(dates, dates[1:], strict=False))


def test_planner_fires_a_zoned_cron_at_its_local_time() -> None:
    trigger = Trigger.from_cron("0 9 * * *", "Europe/Berlin")
    nine_cest = datetime(2026, 7, 1, 7, 0, tzinfo=UTC).timestamp()  # 09:00 in Berlin
    verdict = plan(trigger, nine_cest + 5, None)
    assert verdict.fire_instant == nine_cest
    assert verdict.next_due == nine_cest + 86_400
    # A day missed while down is counted in local days.
    later = plan(trigger, nine_cest + 3 * 86_400 + 1, nine_cest)
    assert later.fire_instant == nine_cest + 3 * 86_400 and later.missed_count == 2


def test_zone_is_part_of_the_ledger_key_and_utc_is_not() -> None:
    assert Trigger.from_cron("0 9 * * *").key == "cron:0 9 * * *"
    assert Trigger.from_cron("0 9 * * *", "UTC").key == "cron:0 9 * * *"
    assert Trigger.from_cron("0 9 * * *", "Europe/Berlin").key == "cron:0 9 * * * tz=Europe/Berlin"


def test_unknown_zone_makes_the_job_inactive_with_a_reason() -> None:
    with pytest.raises(ZoneError, match="unknown time zone 'Mars/Olympus'"):
        load_zone("Mars/Olympus")
    jobset = validate_jobs(
        [
            {"id": "a", "goal": "g", "cron": "0 9 * * *", "timezone": "Mars/Olympus"},
            {"id": "b", "goal": "g", "cron": "0 9 * * *"},
            {"id": "c", "goal": "g", "every_sec": 60, "timezone": "Europe/Berlin"},
        ],
        default_timezone="Nowhere/Land",
    )
    reasons = {bad.id: bad.reason for bad in jobset.invalid}
    assert "unknown time zone 'Mars/Olympus'" in reasons["a"]
    assert "unknown time zone 'Nowhere/Land'" in reasons["b"]
    assert "timezone applies to cron jobs only" in reasons["c"]
    assert not jobset.jobs


def test_default_zone_applies_to_cron_jobs() -> None:
    jobset = validate_jobs(
        [{"id": "a", "goal": "g", "cron": "0 9 * * *"}], default_timezone="Asia/Tokyo"
    )
    assert jobset.jobs[0].trigger.timezone == "Asia/Tokyo"
