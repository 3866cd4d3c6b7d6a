"""every_sec with align = "epoch": instants on multiples of the interval since the epoch."""

from __future__ import annotations

from scoot.schedule.jobs import validate_jobs
from scoot.schedule.planner import plan
from scoot.schedule.triggers import Trigger, next_fire

GRID = 1_700_000_100.0  # a multiple of 300


def test_no_history_fires_a_fresh_grid_instant_only() -> None:
    trigger = Trigger.every(300, "epoch")
    fresh = plan(trigger, GRID + 5, None)
    assert (fresh.fire_instant, fresh.next_due) == (GRID, GRID + 300)
    stale = plan(trigger, GRID + 100, None)
    assert (stale.fire_instant, stale.next_due, stale.missed_count) == (None, GRID + 300, 0)


def test_with_history_the_grid_is_kept_and_misses_counted() -> None:
    trigger = Trigger.every(300, "epoch")
    verdict = plan(trigger, GRID + 900 + 2, GRID)
    assert verdict.fire_instant == GRID + 900
    assert (verdict.missed_count, verdict.first_missed, verdict.last_missed) == (
        2,
        GRID + 300,
        GRID + 600,
    )
    # An entry off the grid (hand-edited) is read as its grid instant.
    assert plan(trigger, GRID + 301, GRID + 17).fire_instant == GRID + 300
    # Clock stepped back by more than an interval: re-anchored on the grid, nothing fires.
    back = plan(trigger, GRID - 3000, GRID)
    assert back.fire_instant is None and back.next_due == GRID - 3000 + 300 - (GRID - 3000) % 300
    assert next_fire(trigger, GRID) == GRID + 300 and next_fire(trigger, GRID - 0.5) == GRID


def test_align_is_part_of_the_key_and_validated() -> None:
    assert Trigger.every(300).key == "every:300"
    assert Trigger.every(300, "epoch").key == "every:300@epoch"
    jobset = validate_jobs(
        [
            {"id": "a", "goal": "g", "every_sec": 60, "align": "epoch"},
            {"id": "b", "goal": "g", "every_sec": 60, "align": "midnight"},
            {"id": "c", "goal": "g", "cron": "* * * * *", "align": "epoch"},
        ]
    )
    assert [job.id for job in jobset.jobs] == ["a"]
    reasons = {bad.id: bad.reason for bad in jobset.invalid}
    assert 'align must be "start" or "epoch"' in reasons["b"]
    assert "align applies to every_sec jobs only" in reasons["c"]
