"""Tests for scoot.schedule.triggers: trigger values, wording, and the planner under injected time."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scoot.schedule.cron import CronError, parse_cron
from scoot.schedule.planner import Plan, plan
from scoot.schedule.triggers import (
    Trigger,
    TriggerError,
    default_grace,
    describe,
    format_utc,
    is_exhausted,
    next_fire,
)
from tests.test_cron import Oracle


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: float = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() + second


NOON = ts(2026, 3, 10, 12)


# --- trigger values -----------------------------------------------------------------------


def test_constructors_and_keys() -> None:
    every = Trigger.every(300)
    assert (every.kind, every.every_sec, every.at_unix, every.cron) == ("every", 300, None, None)
    assert every.key == "every:300"
    once = Trigger.at(1767225600)
    assert once.at_unix == 1767225600.0 and isinstance(once.at_unix, float)
    assert once.key == "at:1767225600"
    assert Trigger.at(1767225600.5).key == "at:1767225600.5"
    cron = Trigger.from_cron(" */5  *\t* * * ")
    assert cron.cron == parse_cron("*/5 * * * *")
    assert cron.key == "cron:*/5 * * * *"
    assert Trigger.from_cron("@daily").key == "cron:@daily"
    # Equal triggers are equal values with equal keys; a changed trigger has a new key.
    assert Trigger.every(300) == every and Trigger.every(301).key != every.key


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Trigger.every(0), "every_sec must be an integer >= 1, got 0"),
        (lambda: Trigger.every(-5), "every_sec must be an integer >= 1, got -5"),
        (lambda: Trigger.every(1.5), "every_sec must be an integer >= 1, got 1.5"),
        (lambda: Trigger.every(True), "every_sec must be an integer >= 1, got True"),
        (lambda: Trigger.at(math.nan), "at_unix must be a finite number, got nan"),
        (lambda: Trigger.at(math.inf), "at_unix must be a finite number, got inf"),
        (lambda: Trigger.at("soon"), "at_unix must be a number of Unix seconds, got 'soon'"),
        (
            lambda: Trigger(kind="every"),
            "trigger kind 'every' needs every_sec and no other trigger value",
        ),
        (
            lambda: Trigger(kind="at", at_unix=1.0, every_sec=5),
            "trigger kind 'at' needs at_unix and no other",
        ),
        (
            lambda: Trigger(kind="weekly", every_sec=5),
            'trigger kind must be "every", "at" or "cron"',
        ),
    ],
)
def test_invalid_triggers_are_refused_in_one_line(
    build: Callable[[], Trigger], message: str
) -> None:
    with pytest.raises(TriggerError, match=message) as caught:
        build()
    assert "\n" not in str(caught.value)


def test_invalid_cron_trigger_raises_cron_error() -> None:
    with pytest.raises(CronError, match="cron field 'hour' value 24 out of range 0-23"):
        Trigger.from_cron("0 24 * * *")


def test_describe_in_words() -> None:
    assert describe(Trigger.every(30)) == "every 30s"
    assert describe(Trigger.every(300)) == "every 5m"
    assert describe(Trigger.every(7200)) == "every 2h"
    assert describe(Trigger.every(5400)) == "every 1h 30m"
    assert describe(Trigger.every(90)) == "every 1m 30s"
    assert describe(Trigger.every(90061)) == "every 1d 1h 1m 1s"
    assert describe(Trigger.at(1767225600)) == "once at 2026-01-01 00:00:00 UTC"
    assert describe(Trigger.from_cron("*/5 * * * *")) == "every 5 minutes"
    assert describe(Trigger.from_cron("0 3 * * *")) == "at 03:00 UTC every day"


def test_format_utc() -> None:
    assert format_utc(0) == "1970-01-01 00:00:00 UTC"
    assert format_utc(1767225600.25) == "2026-01-01 00:00:00.250 UTC"
    assert format_utc(1767225599.9999) == "2026-01-01 00:00:00 UTC"
    assert format_utc(-1) == "1969-12-31 23:59:59 UTC"
    assert format_utc(ts(2100, 2, 28, 23, 59, 59)) == "2100-02-28 23:59:59 UTC"


def test_next_fire_without_history() -> None:
    assert next_fire(Trigger.every(300), NOON) == NOON + 300
    assert next_fire(Trigger.at(NOON), NOON - 1) == NOON
    assert next_fire(Trigger.at(NOON), NOON) is None
    assert next_fire(Trigger.from_cron("*/5 * * * *"), NOON) == NOON + 300
    assert next_fire(Trigger.from_cron("*/5 * * * *"), NOON - 0.5) == NOON


def test_default_grace_and_exhaustion() -> None:
    assert default_grace(Trigger.from_cron("* * * * *")) == 60.0
    assert default_grace(Trigger.every(300)) == 300.0
    assert default_grace(Trigger.at(NOON)) is None
    assert not is_exhausted(Trigger.at(NOON), None)
    assert not is_exhausted(Trigger.at(NOON), NOON - 1)
    assert is_exhausted(Trigger.at(NOON), NOON)
    assert not is_exhausted(Trigger.every(5), NOON)
    assert not is_exhausted(Trigger.from_cron("* * * * *"), NOON)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"catch_up": "always"}, 'catch_up must be "skip" or "once", got \'always\''),
        ({"max_late_sec": -1.0}, "max_late_sec must be a finite number >= 0, got -1.0"),
        ({"max_late_sec": math.nan}, "max_late_sec must be a finite number >= 0, got nan"),
        ({"max_late_sec": math.inf}, "max_late_sec must be a finite number >= 0, got inf"),
    ],
)
def test_invalid_plan_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TriggerError, match=message):
        plan(Trigger.every(5), NOON, None, **options)


# --- every_sec --------------------------------------------------------------------------


def test_every_first_fire_is_at_start_and_anchors_the_grid() -> None:
    result = plan(Trigger.every(300), NOON + 0.37, None)
    assert result == Plan(
        fire_instant=NOON + 0.37,
        missed_count=0,
        missed_count_capped=False,
        first_missed=None,
        last_missed=None,
        decided_through=NOON + 0.37,
        next_due=NOON + 300.37,
    )


def test_every_not_yet_due_decides_nothing() -> None:
    result = plan(Trigger.every(300), NOON + 299.99, NOON)
    assert result.fire_instant is None and result.decided_through is None
    assert result.missed_count == 0 and result.next_due == NOON + 300


def test_every_fixed_rate_does_not_drift_when_runs_start_late() -> None:
    rng = random.Random(7)
    interval = 300
    start = NOON + 0.37
    last = None
    now = start
    fired = []
    for _ in range(2000):
        result = plan(Trigger.every(interval), now, last)
        assert result.missed_count == 0
        assert result.fire_instant is not None and result.fire_instant <= now
        fired.append(result.fire_instant)
        last = result.decided_through
        assert result.next_due is not None
        # The loop wakes late by up to most of an interval, every time.
        now = result.next_due + rng.uniform(0, interval * 0.95)
    assert fired == [start + k * interval for k in range(2000)]


def test_every_coalesces_after_downtime_into_one_fire() -> None:
    result = plan(Trigger.every(300), NOON + 10 * 300 + 5, NOON)
    assert result.fire_instant == NOON + 3000
    assert result.missed_count == 9
    assert (result.first_missed, result.last_missed) == (NOON + 300, NOON + 2700)
    assert result.decided_through == NOON + 3000
    assert result.next_due == NOON + 3300


def test_every_counts_a_week_of_one_second_instants_arithmetically() -> None:
    result = plan(Trigger.every(1), NOON + 7 * 86400 + 0.5, NOON)
    assert result.fire_instant == NOON + 7 * 86400
    assert result.missed_count == 7 * 86400 - 1
    assert not result.missed_count_capped
    assert (result.first_missed, result.last_missed) == (NOON + 1, NOON + 7 * 86400 - 1)


def test_every_instant_exactly_at_now_is_due() -> None:
    result = plan(Trigger.every(60), NOON + 120, NOON)
    assert result.fire_instant == NOON + 120
    assert result.missed_count == 1


def test_every_with_max_late_sec_misses_the_latest_when_too_late() -> None:
    trigger = Trigger.every(3600)
    late = plan(trigger, NOON + 3600 + 601, NOON, max_late_sec=600)
    assert late.fire_instant is None
    assert (late.missed_count, late.first_missed, late.last_missed) == (1, NOON + 3600, NOON + 3600)
    assert late.decided_through == NOON + 3600 and late.next_due == NOON + 7200
    in_time = plan(trigger, NOON + 3600 + 600, NOON, max_late_sec=600)
    assert in_time.fire_instant == NOON + 3600 and in_time.missed_count == 0
    # catch_up "once" changes nothing for every: the latest instant is always within one interval.
    assert plan(trigger, NOON + 3 * 3600 + 5, NOON, catch_up="once") == plan(
        trigger, NOON + 3 * 3600 + 5, NOON
    )


def test_every_clock_step_back_within_one_interval_keeps_the_grid() -> None:
    result = plan(Trigger.every(300), NOON - 10, NOON)
    assert result.fire_instant is None and result.missed_count == 0
    assert result.decided_through is None
    assert result.next_due == NOON + 300
    # Once the clock reaches the grid again, it fires on the grid.
    assert plan(Trigger.every(300), NOON + 300.5, NOON).fire_instant == NOON + 300


def test_every_clock_step_back_by_an_interval_or_more_reanchors_on_now() -> None:
    assert plan(Trigger.every(300), NOON - 300, NOON).decided_through == NOON - 300
    stepped_back = NOON - 86400
    result = plan(Trigger.every(300), stepped_back, NOON)
    assert result.fire_instant is None and result.missed_count == 0
    assert result.decided_through == stepped_back
    assert result.next_due == stepped_back + 300
    # No double fire just after the step, then one fire per interval on the new grid.
    assert plan(Trigger.every(300), stepped_back + 299, stepped_back).fire_instant is None
    following = plan(Trigger.every(300), stepped_back + 300.2, stepped_back)
    assert following.fire_instant == stepped_back + 300 and following.missed_count == 0


def test_every_clock_jump_forward_fires_once_and_audits_the_rest() -> None:
    result = plan(Trigger.every(60), NOON + 30 * 86400 + 59, NOON)
    assert result.fire_instant == NOON + 30 * 86400
    assert result.missed_count == 30 * 1440 - 1


# --- at_unix ----------------------------------------------------------------------------


def test_at_waits_then_fires_once_and_never_again() -> None:
    trigger = Trigger.at(NOON)
    before = plan(trigger, NOON - 5, None)
    assert (
        before.fire_instant is None and before.next_due == NOON and before.decided_through is None
    )
    fired = plan(trigger, NOON, None)
    assert fired.fire_instant == NOON and fired.decided_through == NOON and fired.next_due is None
    assert is_exhausted(trigger, fired.decided_through)
    for now in (NOON, NOON + 1, NOON + 86400 * 365, NOON - 86400):
        again = plan(trigger, now, NOON, catch_up="once")
        assert again.fire_instant is None and again.missed_count == 0
        assert again.decided_through is None and again.next_due is None


def test_at_fires_whenever_the_process_comes_up_after_its_instant() -> None:
    result = plan(Trigger.at(NOON), NOON + 400 * 86400, None)
    assert result.fire_instant == NOON and result.missed_count == 0


def test_at_with_max_late_sec_too_old_is_left_alone_not_missed() -> None:
    trigger = Trigger.at(NOON)
    result = plan(trigger, NOON + 3601, None, max_late_sec=3600)
    assert result.fire_instant is None and result.missed_count == 0
    assert result.decided_through is None and result.next_due is None
    assert plan(trigger, NOON + 3600, None, max_late_sec=3600).fire_instant == NOON
    # With a ledger entry from before the instant, a too-late instant is a recorded miss.
    missed = plan(trigger, NOON + 3601, NOON - 100, max_late_sec=3600)
    assert (missed.missed_count, missed.first_missed, missed.last_missed) == (1, NOON, NOON)
    assert missed.decided_through == NOON and missed.next_due is None


# --- cron -------------------------------------------------------------------------------


def test_daemon_started_at_12_00_48_fires_the_12_00_minute() -> None:
    minutely = Trigger.from_cron("* * * * *")
    result = plan(minutely, NOON + 48, None)
    assert result.fire_instant == NOON and result.missed_count == 0
    assert result.decided_through == NOON and result.next_due == NOON + 60
    # The same with a ledger entry for the minute before.
    assert plan(minutely, NOON + 48, NOON - 60).fire_instant == NOON
    # At 12:00:59.999 still within the minute; at 12:01:00 the 12:01 instant is the one.
    assert plan(minutely, NOON + 59.999, None).fire_instant == NOON
    assert plan(minutely, NOON + 60, None).fire_instant == NOON + 60


def test_cron_default_grace_ends_exactly_at_the_next_minute() -> None:
    hourly = Trigger.from_cron("0 * * * *")
    assert plan(hourly, NOON + 59.999, None).fire_instant == NOON
    assert plan(hourly, NOON + 60, None).fire_instant is None
    late = plan(hourly, NOON + 60, NOON - 3600)
    assert late.fire_instant is None and (late.missed_count, late.last_missed) == (1, NOON)


def test_cron_fresh_job_past_its_minute_fires_nothing_and_misses_nothing() -> None:
    daily = Trigger.from_cron("0 3 * * *")
    for catch_up in ("skip", "once"):
        result = plan(daily, NOON, None, catch_up=catch_up)
        assert result.fire_instant is None and result.missed_count == 0
        assert result.decided_through is None
        assert result.next_due == ts(2026, 3, 11, 3)
    # A generous max_late_sec lets a fresh job still fire this morning's instant.
    generous = plan(daily, NOON, None, max_late_sec=12 * 3600)
    assert generous.fire_instant == ts(2026, 3, 10, 3)
    assert plan(daily, NOON, None, max_late_sec=9 * 3600 - 1).fire_instant is None


def test_cron_skip_misses_a_stale_latest_instant() -> None:
    hourly = Trigger.from_cron("0 * * * *")
    result = plan(hourly, ts(2026, 3, 10, 15, 30), ts(2026, 3, 10, 10))
    assert result.fire_instant is None
    assert result.missed_count == 5
    assert result.first_missed == ts(2026, 3, 10, 11)
    assert result.last_missed == ts(2026, 3, 10, 15)
    assert result.decided_through == ts(2026, 3, 10, 15)
    assert result.next_due == ts(2026, 3, 10, 16)


def test_cron_catch_up_once_runs_the_latest_missed_instant() -> None:
    hourly = Trigger.from_cron("0 * * * *")
    now, last = ts(2026, 3, 10, 15, 30), ts(2026, 3, 10, 10)
    result = plan(hourly, now, last, catch_up="once")
    assert result.fire_instant == ts(2026, 3, 10, 15)
    assert result.missed_count == 4
    assert (result.first_missed, result.last_missed) == (ts(2026, 3, 10, 11), ts(2026, 3, 10, 14))
    assert result.decided_through == ts(2026, 3, 10, 15)
    # max_late_sec bounds the catch-up (inclusive).
    assert plan(hourly, now, last, catch_up="once", max_late_sec=1799).fire_instant is None
    assert plan(hourly, now, last, catch_up="once", max_late_sec=1800).fire_instant == ts(
        2026, 3, 10, 15
    )
    # With skip, max_late_sec widens the default grace the same way.
    assert plan(hourly, now, last, max_late_sec=1800).fire_instant == ts(2026, 3, 10, 15)


def test_cron_nothing_new_due_decides_nothing() -> None:
    every_five = Trigger.from_cron("*/5 * * * *")
    result = plan(every_five, NOON + 200, NOON)
    assert result.fire_instant is None and result.decided_through is None
    assert result.missed_count == 0 and result.next_due == NOON + 300


def test_cron_missed_count_is_capped_on_long_outages() -> None:
    minutely = Trigger.from_cron("* * * * *")
    last = NOON - 365 * 86400
    result = plan(minutely, NOON + 10, last)
    assert result.fire_instant == NOON
    assert result.missed_count == 100_000 and result.missed_count_capped
    assert (result.first_missed, result.last_missed) == (last + 60, NOON - 60)


def test_cron_clock_step_back_fires_nothing_twice() -> None:
    minutely = Trigger.from_cron("* * * * *")
    result = plan(minutely, NOON + 3 * 60 + 10, NOON + 5 * 60)
    assert result.fire_instant is None and result.missed_count == 0
    assert result.decided_through is None
    assert result.next_due == NOON + 6 * 60
    # A jump forward afterwards: one fire, the skipped minutes audited.
    forward = plan(minutely, NOON + 86400 + 30, NOON + 5 * 60)
    assert forward.fire_instant == NOON + 86400
    assert forward.missed_count == 1440 - 6
    assert (forward.first_missed, forward.last_missed) == (NOON + 6 * 60, NOON + 86400 - 60)


def test_ticks_1_from_a_per_minute_timer_fires_each_minute_and_keeps_cadence() -> None:
    # Each process runs one poll cycle sometime in its minute and exits; only the ledger persists.
    rng = random.Random(11)
    jobs = {
        "minutely": Trigger.from_cron("* * * * *"),
        "five": Trigger.from_cron("*/5 * * * *"),
        "every": Trigger.every(300),
    }
    ledger: dict[str, float | None] = dict.fromkeys(jobs)
    fired: dict[str, list[float]] = {name: [] for name in jobs}
    start = NOON
    for minute in range(600):
        now = start + minute * 60 + rng.uniform(0, 59.9)
        for name, trigger in jobs.items():
            result = plan(trigger, now, ledger[name])
            assert result.missed_count == 0
            if result.fire_instant is not None:
                fired[name].append(result.fire_instant)
            if result.decided_through is not None:
                ledger[name] = result.decided_through
    assert fired["minutely"] == [start + minute * 60 for minute in range(600)]
    assert fired["five"] == [start + k * 300 for k in range(120)]
    first = fired["every"][0]
    assert first < start + 60
    assert fired["every"] == [first + k * 300 for k in range(len(fired["every"]))]
    assert len(fired["every"]) in (119, 120)


# --- exactly once over a simulated week ---------------------------------------------------


@dataclass
class SimulatedJob:
    trigger: Trigger
    catch_up: str = "skip"
    max_late_sec: float | None = None
    last: float | None = None
    fired: list[float] = field(default_factory=list)
    missed_runs: list[tuple[int, float, float]] = field(default_factory=list)


SIMULATED_CRONS = [
    "* * * * *",
    "*/5 * * * *",
    "0 * * * *",
    "*/2 9-17 * * mon-fri",
    "30 3 * * *",
    "0 0 13 * 5",
    "7,8,9 */3 */2 * *",
]


def _oracle_instants(job: SimulatedJob, low: float, high: float) -> list[float]:
    """Every scheduled instant in [low, high], computed without the planner."""
    if job.trigger.kind == "every":
        interval = job.trigger.every_sec
        assert interval is not None
        anchor = job.fired[0]
        first_k = max(0, math.ceil((low - anchor) / interval) - 1)
        last_k = int((high - anchor) // interval) + 1
        grid = (anchor + k * interval for k in range(first_k, last_k + 1))
        return [instant for instant in grid if low <= instant <= high]
    assert job.trigger.cron is not None
    oracle = Oracle(job.trigger.cron.source)
    moment = datetime.fromtimestamp(math.ceil(low / 60) * 60, UTC)
    found = []
    while moment.timestamp() <= high:
        if oracle.minute_ok(moment):
            found.append(moment.timestamp())
        moment += timedelta(minutes=1)
    return found


def _expand_missed(job: SimulatedJob) -> list[float]:
    instants: list[float] = []
    for count, first, last in job.missed_runs:
        run = _oracle_instants(job, first, last)
        assert len(run) == count and run[0] == first and run[-1] == last
        instants.extend(run)
    return instants


def test_simulated_week_decides_every_instant_exactly_once() -> None:
    rng = random.Random(2026)
    jobs = [SimulatedJob(Trigger.from_cron(text)) for text in SIMULATED_CRONS]
    jobs += [SimulatedJob(Trigger.every(interval)) for interval in (5, 61, 300, 3600)]
    jobs += [
        SimulatedJob(Trigger.from_cron("* * * * *"), catch_up="once"),
        SimulatedJob(Trigger.from_cron("*/3 * * * *"), catch_up="once", max_late_sec=100),
        SimulatedJob(Trigger.every(45), max_late_sec=20),
        SimulatedJob(Trigger.from_cron("* * * * *"), max_late_sec=30),
    ]
    start = ts(2026, 2, 23, 0, 0, 17.5)
    now = last_look = start
    while now < start + 7 * 86400:
        for job in jobs:
            result = plan(
                job.trigger, now, job.last, catch_up=job.catch_up, max_late_sec=job.max_late_sec
            )
            if result.fire_instant is not None:
                assert result.fire_instant <= now
                if job.max_late_sec is not None:
                    assert now - result.fire_instant <= job.max_late_sec
                elif job.catch_up == "skip" or job.last is None:
                    assert now - result.fire_instant < default_grace(job.trigger)
                job.fired.append(result.fire_instant)
            if result.missed_count:
                assert job.last is not None and not result.missed_count_capped
                assert job.last < result.first_missed <= result.last_missed <= now
                job.missed_runs.append(
                    (result.missed_count, result.first_missed, result.last_missed)
                )
            if result.decided_through is not None:
                assert job.last is None or result.decided_through > job.last
                assert result.decided_through <= now
                job.last = result.decided_through
            assert result.next_due is not None and result.next_due > now
        last_look = now
        now += rng.uniform(0.1, 90)
    for job in jobs:
        assert job.fired and job.last is not None, job.trigger.key
        decided = Counter(job.fired + _expand_missed(job))
        assert max(decided.values()) == 1, job.trigger.key
        assert sorted(decided) == _oracle_instants(job, job.fired[0], job.last), job.trigger.key
        # Nothing due by the last look is left undecided.
        assert _oracle_instants(job, job.last + 0.001, last_look) == [], job.trigger.key
    # Steps of up to 90 s must have made a per-minute job miss some minutes.
    assert jobs[0].missed_runs and len(jobs[0].fired) > 5000
