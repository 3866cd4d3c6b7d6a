"""Claiming ahead never delays a run whose instant is the decision itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scoot.schedule.jobs import validate_jobs
from scoot.schedule.ledger import Ledger
from scoot.schedule.scheduler import Scheduler
from scoot.testing.model_server import ScriptedModel
from tests.helpers import ledger_jobs, run_scoot, runs, write_config

LEAD = 0.05
T = 1_800_000_000.25  # not on any grid


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel({"default": [{"final": "ok"}]}) as server:
        yield server


def scheduler_for(tmp_path: Path, jobs: list[dict[str, object]]) -> Scheduler:
    jobset = validate_jobs(jobs)
    assert not jobset.invalid, jobset.invalid
    scheduler = Scheduler(jobset.jobs, Ledger(tmp_path / "ledger.json", tmp_path / "l.lock"), now=T)
    scheduler.claim_lead_sec = LEAD
    return scheduler


def test_a_new_every_sec_job_fires_at_the_clock_not_at_the_look_ahead(tmp_path: Path) -> None:
    scheduler = scheduler_for(tmp_path, [{"id": "e", "goal": "g", "every_sec": 60}])
    # The supervisor decides at the clock's reading plus the lead.
    (claimed,) = scheduler.decide(T + LEAD).claimed
    assert claimed.instant == T
    # Its grid starts there: the next instant is an interval after it, claimed ahead.
    assert scheduler.decide(T + 60 - 0.01 + LEAD).claimed[0].instant == T + 60
    assert scheduler.decide(T + 61 + LEAD).claimed == []


def test_instants_of_their_own_are_still_claimed_ahead(tmp_path: Path) -> None:
    jobs = [
        {"id": "epoch", "goal": "g", "every_sec": 60, "align": "epoch"},
        {"id": "at", "goal": "g", "at_unix": T + 0.03},
    ]
    scheduler = scheduler_for(tmp_path, jobs)
    claimed = {r.job_id: r.instant for r in scheduler.decide(T + LEAD).claimed}
    # The one-shot's instant lies within the lead: claimed now, for its own instant.
    assert claimed["at"] == T + 0.03
    # The epoch grid's instant is the grid's, whatever the lead.
    assert claimed["epoch"] == (T // 60) * 60


def test_a_one_shot_tick_starts_a_new_every_sec_job_no_earlier_than_its_instant(
    tmp_path: Path, model: ScriptedModel
) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "e", "goal": "g", "every_sec": 3600}])
    done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    (row,) = runs(home)
    entry = ledger_jobs(home)["e"]
    # The instant is the clock's reading, before the look-ahead the job was first seen at.
    assert row["instant"] < entry["first_seen"]
    assert row["instant"] <= row["started_at"]
    assert entry["last_instant"] == row["instant"]
