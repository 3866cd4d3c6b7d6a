"""`schedule next`: the preview agrees with the scheduler's own decisions."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scoot.errors import UsageError
from scoot.schedule.jobs import validate_jobs
from scoot.schedule.ledger import Ledger
from scoot.schedule.preview import fires_of, parse_when
from scoot.schedule.scheduler import Scheduler
from tests.helpers import run_scoot, write_config

JOBS = [
    {"id": "berlin", "goal": "g", "cron": "30 2 * * *", "timezone": "Europe/Berlin"},
    {
        "id": "sydney",
        "goal": "g",
        "cron": "*/30 1-3 * * *",
        "timezone": "Australia/Sydney",
        "jitter_sec": 300,
    },
    {"id": "grid", "goal": "g", "every_sec": 900, "align": "epoch", "jitter_sec": 60},
    {"id": "rate", "goal": "g", "every_sec": 3600, "jitter_sec": 30},
    {"id": "once", "goal": "g", "at_unix": 1_774_800_000, "jitter_sec": 10},
]


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_parse_when_reads_iso_and_unix() -> None:
    assert parse_when("1774751400") == 1774751400.0
    assert parse_when("2026-03-29T02:30:00Z") == _utc("2026-03-29T02:30:00")
    assert parse_when("2026-03-29T04:30:00+02:00") == _utc("2026-03-29T02:30:00")
    assert parse_when("2026-03-29 02:30") == _utc("2026-03-29T02:30:00")  # no offset: UTC
    with pytest.raises(UsageError, match="ISO 8601"):
        parse_when("next tuesday")


@pytest.mark.parametrize(
    "start", ["2026-03-28T12:00:00", "2026-10-03T00:00:00", "2026-10-24T22:00:00"]
)
def test_preview_matches_the_scheduler_firing_through_dst(tmp_path: Path, start: str) -> None:
    """Drive the real Scheduler with a real ledger from one due time to the next."""
    jobs = validate_jobs(JOBS).jobs
    begin = _utc(start)
    ledger = Ledger(tmp_path / f"ledger-{start}.json", tmp_path / "ledger.lock")
    scheduler = Scheduler(jobs, ledger, now=begin)
    claimed: dict[str, list[tuple[float, int]]] = {job.id: [] for job in jobs}
    now = begin
    for _ in range(400):
        verdicts = scheduler.decide(now)
        for request in verdicts.claimed:
            assert request.job_id is not None and request.instant is not None
            claimed[request.job_id].append((request.instant, request.jitter_ms))
        scheduler.release(verdicts.claimed)
        due = scheduler.next_due()
        if due is None or due > begin + 3 * 86_400:
            break
        now = due
    entries = Ledger(tmp_path / "empty.json", tmp_path / "empty.lock").peek()
    for job in jobs:
        got = claimed[job.id]
        assert got, job.id
        # The preview from the same start and no history; every_sec "start" anchors there.
        fires = fires_of(job, entries.get(job.id), begin, len(got))
        assert [(f.instant, f.jitter_ms) for f in fires] == got, job.id


def test_preview_continues_the_ledger_grid(tmp_path: Path) -> None:
    (job,) = validate_jobs([JOBS[3]]).jobs
    ledger = Ledger(tmp_path / "ledger.json", tmp_path / "ledger.lock")
    scheduler = Scheduler((job,), ledger, now=1000.0)
    scheduler.decide(1000.0)  # fires at 1000 and anchors the grid there
    entries = ledger.peek()
    # At 5000 the grid instant 4600 is due and within its grace: it fires at once.
    fires = fires_of(job, entries["rate"], 5000.0, 3)
    assert [f.instant for f in fires] == [4600.0, 8200.0, 11800.0]
    fires = fires_of(job, entries["rate"], 4500.0, 2)
    assert [f.instant for f in fires] == [4600.0, 8200.0]


def test_cli_next_json_lists_fires_in_utc_and_local_time(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=JOBS)
    done = run_scoot(
        home,
        "schedule",
        "next",
        "berlin",
        "once",
        "--from",
        "2026-03-28T00:00:00Z",
        "--count",
        "3",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    berlin, once = doc["jobs"]
    assert [f["utc"] for f in berlin["fires"]] == [
        "2026-03-28T01:30:00Z",
        "2026-03-29T01:00:00Z",  # 02:30 does not exist that day: the first instant after the gap
        "2026-03-30T00:30:00Z",
    ]
    assert [f["local"] for f in berlin["fires"]] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]
    assert all(f["unix"] == parse_when(f["utc"]) for f in berlin["fires"])
    assert [f["unix"] for f in once["fires"]] == [1_774_800_000]
    assert 0 <= once["fires"][0]["jitter_ms"] <= 10_000
    text = run_scoot(home, "schedule", "next", "berlin", "--from", "1774656000", "--count", "2")
    assert text.returncode == 0, text.stderr
    assert "2026-03-29 01:00:00 UTC  2026-03-29 03:00:00 CEST" in text.stdout


def test_cli_next_refuses_unknown_job_and_bad_time(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=JOBS)
    missing = run_scoot(home, "schedule", "next", "nope")
    assert missing.returncode == 2 and "no valid job 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = run_scoot(home, "schedule", "next", "--from", "soon")
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr
    assert not os.path.exists(home / "state" / "pauses.json")
