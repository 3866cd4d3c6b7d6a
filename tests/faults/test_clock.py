"""The clock under injected time: jumps back and forward, and a simulated week of 1,000 jobs.

Time is injected into the real Scheduler, which claims runs in a real
Ledger file, exactly as the daemon's loop calls it. What it fires is
compared, fire by fire, with an oracle that enumerates every scheduled
instant by brute force (cron minutes from tests/test_cron.py's Oracle) and
applies the documented rules on its own.
"""

from __future__ import annotations

import bisect
import math
import random
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scoot.schedule.jobs import validate_jobs
from scoot.schedule.ledger import Ledger
from scoot.schedule.scheduler import Scheduler
from tests.faults.support import tally, trials
from tests.test_cron import Oracle as CronOracle

SCENARIO = "clock: jumps and a week"
START = datetime(2026, 3, 9, 0, 0, 17, tzinfo=UTC).timestamp()  # a Monday


# --- the oracle ---------------------------------------------------------------------


def cron_instants(expr: str, low: float, high: float) -> list[float]:
    """Every matching minute in [low, high], by brute force over days and minutes."""
    oracle = CronOracle(expr)
    day = datetime.fromtimestamp(low, UTC).date()
    last_day = datetime.fromtimestamp(high, UTC).date()
    minutes_of_day = [h * 60 + m for h in sorted(oracle.hours) for m in sorted(oracle.minutes)]
    found = []
    while day <= last_day:
        if oracle.day_ok(day):
            midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
            found += [midnight + 60 * k for k in minutes_of_day if low <= midnight + 60 * k <= high]
        day += timedelta(days=1)
    return found


@dataclass
class Expected:
    """One job as the oracle sees it: what must fire, what must be missed, nothing else."""

    raw: dict[str, Any]
    duration: float = 0.0  # how long each of its runs lasts (monotonic seconds)
    last: float | None = None  # the latest decided instant, as the ledger holds it
    first_seen: float | None = None  # when the job first appeared, as the ledger holds it
    busy_until: float = -math.inf
    fired: list[float] = field(default_factory=list)
    missed: list[float] = field(default_factory=list)
    skipped: list[float] = field(default_factory=list)

    @property
    def job_id(self) -> str:
        return str(self.raw["id"])

    def grace_ok(self, lateness: float, default: float | None, history: bool = True) -> bool:
        max_late = self.raw.get("max_late_sec")
        if max_late is not None:
            return lateness <= max_late
        # Catching up needs a history: a job seen for the first time has missed nothing.
        if (history and self.raw.get("catch_up") == "once") or default is None:
            return True
        return lateness < default

    def decide(
        self,
        due: list[float],
        now: float,
        mono: float,
        default_grace: float | None,
        history: bool = True,
    ) -> None:
        """The rules for instants newly due at `now` (after the last decided one)."""
        latest = due[-1]
        fires = self.grace_ok(now - latest, default_grace, history)
        self.missed += due[:-1] if fires else due
        if fires and mono < self.busy_until:
            self.skipped.append(latest)
        elif fires:
            self.fired.append(latest)
            self.busy_until = mono + self.duration
        self.last = latest

    def step(self, now: float, mono: float, cron_cache: dict[str, list[float]]) -> None:
        """What the job decides if the wall clock reads `now` (evaluated at every step)."""
        raw = self.raw
        fresh = self.first_seen is None
        if fresh:
            self.first_seen = now
        if "every_sec" in raw:
            interval = float(raw["every_sec"])
            if self.last is None:
                self.fired.append(now)
                self.busy_until = mono + self.duration
                self.last = now
            elif now < self.last:
                if self.last - now >= interval:
                    self.last = now  # a step back of an interval or more re-anchors
            else:
                count = int((now - self.last) // interval)
                due = [self.last + k * interval for k in range(1, count + 1)]
                if due:
                    self.decide(due, now, mono, interval)
        elif "at_unix" in raw:
            at = float(raw["at_unix"])
            if (self.last is not None and self.last >= at) or now < at:
                return
            if self.grace_ok(now - at, None):
                self.decide([at], now, mono, None)
            elif self.last is not None or (not fresh and self.first_seen < at):
                # An instant after the job first appeared is never silent.
                self.missed.append(at)
                self.last = at
            else:
                self.last = math.inf  # too late with no history: left alone, never missed
        else:
            instants = cron_cache[raw["cron"]]
            if self.last is None and fresh:
                # First sight: only the latest minute within grace may fire, nothing is missed.
                index = bisect.bisect_right(instants, now) - 1
                if index >= 0 and self.grace_ok(now - instants[index], 60.0, history=False):
                    self.decide([instants[index]], now, mono, 60.0, history=False)
                return
            # Never fired since: the instants after its first appearance are judged.
            decided = self.last if self.last is not None else self.first_seen
            assert decided is not None
            low = bisect.bisect_right(instants, decided)
            high = bisect.bisect_right(instants, now)
            if high > low:
                self.decide(instants[low:high], now, mono, 60.0)


# --- the scheduler under test -------------------------------------------------------


@dataclass
class Observed:
    fired: list[float] = field(default_factory=list)
    missed: int = 0
    skipped: list[float] = field(default_factory=list)


class Simulation:
    """The real Scheduler and Ledger, with injected time and runs that last `duration`.

    Run durations count on a separate monotonic clock, as the daemon measures
    them: a wall-clock jump does not end or prolong a run.
    """

    def __init__(self, ledger_dir: Path, jobs: list[Expected], now: float) -> None:
        self.ledger = Ledger(ledger_dir / "ledger.json", ledger_dir / "ledger.lock")
        jobset = validate_jobs([job.raw for job in jobs])
        assert not jobset.invalid, jobset.invalid
        self.jobs = jobset.jobs
        self.duration = {job.job_id: job.duration for job in jobs}
        self.running: dict[str, tuple[float, Any]] = {}  # job id -> (ends at, request)
        self.observed: dict[str, Observed] = defaultdict(Observed)
        self.decisions = 0
        self.restart(now)

    def restart(self, now: float) -> None:
        """A new scoot process on the same ledger: runs in flight are gone."""
        if self.running:
            self.scheduler.release([request for _, request in self.running.values()])
            self.running.clear()
        self.scheduler = Scheduler(
            self.jobs, self.ledger, is_running=lambda job_id: job_id in self.running, now=now
        )

    def step(self, now: float, mono: float) -> None:
        ended = [job_id for job_id, (ends, _) in self.running.items() if ends <= mono]
        if ended:
            self.scheduler.release([self.running.pop(job_id)[1] for job_id in ended])
        verdicts = self.scheduler.decide(now)
        self.decisions += 1
        claimed = Counter(request.job_id for request in verdicts.claimed)
        assert not claimed or max(claimed.values()) == 1, f"burst at {now}: {claimed}"
        for request in verdicts.claimed:
            assert request.instant is not None and request.instant <= now
            self.observed[request.job_id].fired.append(request.instant)
            self.running[request.job_id] = (mono + self.duration[request.job_id], request)
        for kind, _, details in verdicts.events:
            if kind == "job_missed":
                assert not details.get("capped")
                self.observed[details["job_id"]].missed += details["count"]
            elif kind == "job_skipped":
                self.observed[details["job_id"]].skipped.append(details["instant"])


def compare(expected: list[Expected], sim: Simulation) -> tuple[int, int, int]:
    """Fire by fire: returns (fires checked, runs lost, runs doubled)."""
    checked = lost = doubled = 0
    for job in expected:
        seen = sim.observed[job.job_id]
        counts = Counter(seen.fired)
        doubled += sum(n - 1 for n in counts.values() if n > 1)
        lost += len(set(job.fired) - set(seen.fired))
        assert seen.fired == job.fired, (job.raw, seen.fired[:5], job.fired[:5])
        assert seen.missed == len(job.missed), (job.raw, seen.missed, len(job.missed))
        assert seen.skipped == job.skipped, (job.raw, seen.skipped[:5], job.skipped[:5])
        checked += len(job.fired)
    return checked, lost, doubled


@contextmanager
def fast_directory(base: Path) -> Iterator[Path]:
    """A small tmpfs for the ledger when we may mount one (fsync costs nothing there)."""
    target = base / "ledger-fs"
    target.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(target)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield target
    finally:
        if mounted:
            subprocess.run(["umount", str(target)], check=False)


def run(
    expected: list[Expected],
    clock: list[float],
    ledger_dir: Path,
    *,
    mono: list[float] | None = None,
    restarts: frozenset[int] = frozenset(),
) -> Simulation:
    """Drive the simulation and the oracle through the same clock readings."""
    monotonic = mono or clock
    high = max(clock) + 120
    cron_cache = {
        job.raw["cron"]: cron_instants(job.raw["cron"], min(clock) - 86400, high)
        for job in expected
        if "cron" in job.raw
    }
    sim = Simulation(ledger_dir, expected, clock[0])
    for index, now in enumerate(clock):
        if index in restarts:
            sim.restart(now)
            for job in expected:
                job.busy_until = -math.inf
        sim.step(now, monotonic[index])
        for job in expected:
            job.step(now, monotonic[index], cron_cache)
    return sim


# --- wall-clock jumps -----------------------------------------------------------------


def jump_clock() -> tuple[list[float], list[float]]:
    """Wall and monotonic readings, 13 s apart: two hours, back one hour, two hours on,
    forward one hour, one hour on."""
    clock = [START + k * 13 for k in range(554)]
    back = clock[-1] - 3600
    clock += [back + k * 13 for k in range(554)]
    forward = clock[-1] + 3600
    clock += [forward + k * 13 for k in range(277)]
    return clock, [k * 13.0 for k in range(len(clock))]


def test_an_hour_back_and_an_hour_forward_neither_bursts_nor_doubles_nor_loses(
    tmp_path: Path,
) -> None:
    expected = [
        Expected({"id": "minute", "goal": "g", "cron": "* * * * *"}),
        Expected({"id": "five", "goal": "g", "cron": "*/5 * * * *"}),
        Expected({"id": "every-60", "goal": "g", "every_sec": 60}),
        Expected({"id": "every-7", "goal": "g", "every_sec": 7}),
        Expected({"id": "every-600", "goal": "g", "every_sec": 600}),
        Expected({"id": "every-5000", "goal": "g", "every_sec": 5000}),
        Expected({"id": "catch-up", "goal": "g", "cron": "*/10 * * * *", "catch_up": "once"}),
        Expected({"id": "once-early", "goal": "g", "at_unix": START + 1800}),
        Expected({"id": "once-replayed", "goal": "g", "at_unix": START + 9000}),
        Expected({"id": "once-in-gap", "goal": "g", "at_unix": START + 12600}),
        Expected({"id": "slow", "goal": "g", "every_sec": 30}, duration=45),
    ]
    clock, mono = jump_clock()
    with fast_directory(tmp_path) as ledger_dir:
        sim = run(expected, clock, ledger_dir, mono=mono)
    checked, lost, doubled = compare(expected, sim)
    # The shape the rules promise, stated directly as well.
    minute = sim.observed["minute"].fired
    assert len(minute) == len(set(minute))
    assert sim.observed["minute"].missed >= 59  # the forward hour, audited as missed
    assert len(sim.observed["once-early"].fired) == 1  # not again when the clock repeats
    assert len(sim.observed["once-in-gap"].fired) == 1
    every_7 = sim.observed["every-7"].fired
    back_at = clock[554]
    after_back = [t for t in every_7 if t >= back_at and t < back_at + 3600]
    assert after_back and after_back[0] - back_at < 2 * 7, "every_sec stalled after the jump"
    counts = tally(SCENARIO)
    counts.trials += 1
    counts.faults_survived += 2
    counts.runs_lost += lost
    counts.runs_doubled += doubled
    assert (lost, doubled) == (0, 0)
    assert checked > 500


# --- a simulated week of 1,000 mixed jobs ------------------------------------------------

CRONS = [
    "*/5 * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "15,45 * * * *",
    "0 */2 * * *",
    "30 3 * * *",
    "*/10 9-17 * * mon-fri",
    "7 */3 */2 * *",
    "0 0 13 * 5",
    "59 23 * * sun",
    "0 12 * * 1-5",
    "20 4 1,15 * *",
]
INTERVALS = [60, 90, 300, 600, 900, 1800, 3600, 7200, 21600, 86400]


def mixed_jobs(count: int, horizon: float, rng: random.Random) -> list[Expected]:
    jobs: list[Expected] = []
    for number in range(count):
        kind = number % 10
        raw: dict[str, Any] = {"id": f"job-{number}", "goal": "g"}
        duration = 0.0
        if number < 10:
            raw["cron"] = "* * * * *"
        elif kind < 4:
            raw["cron"] = CRONS[number % len(CRONS)]
        elif kind < 8:
            raw["every_sec"] = rng.choice(INTERVALS)
        else:
            raw["at_unix"] = START + rng.uniform(-3600, horizon)
        if number % 17 == 0:
            raw["catch_up"] = "once"
        if number % 23 == 0:
            raw["max_late_sec"] = rng.choice([0, 30, 120, 900])
        if number % 13 == 0:
            duration = rng.choice([50.0, 400.0, 4000.0])  # some runs outlast their interval
        jobs.append(Expected(raw, duration=duration))
    return jobs


@pytest.mark.timeout(900)
def test_a_simulated_week_of_1000_jobs_matches_the_oracle_fire_by_fire(tmp_path: Path) -> None:
    # CI simulates six hours; SCOOT_FAULT_TRIALS=full the whole week (N: N hours).
    hours = trials(6, 168)
    horizon = hours * 3600.0
    rng = random.Random(2026)
    expected = mixed_jobs(1000, horizon, rng)
    clock = [START]
    while clock[-1] < START + horizon:
        clock.append(clock[-1] + rng.uniform(30, 90))
    # A new scoot process about every simulated two hours, on the same ledger.
    restarts = frozenset(index for index in range(1, len(clock)) if index % 120 == 0)
    started = time.monotonic()
    with fast_directory(tmp_path) as ledger_dir:
        sim = run(expected, clock, ledger_dir, restarts=restarts)
    checked, lost, doubled = compare(expected, sim)
    took = time.monotonic() - started
    print(
        f"\n[faults] simulated {hours} hour(s) of {len(expected)} jobs: {len(clock)} clock readings, "
        f"{checked} fires and {sum(len(j.missed) for j in expected)} missed instants "
        f"matched the oracle in {took:.1f} s"
    )
    counts = tally(SCENARIO)
    counts.trials += 1
    counts.runs_lost += lost
    counts.runs_doubled += doubled
    counts.faults_survived += len(restarts)
    assert (lost, doubled) == (0, 0)
    assert checked > 1000 * hours
    assert any(sim.observed[j.job_id].skipped for j in expected)
    assert any(sim.observed[j.job_id].missed for j in expected)
