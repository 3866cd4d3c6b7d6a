"""Jitter: a pure function of (job id, instant), bounded, recorded on job_start, and kept."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scoot.schedule.jitter import jitter_ms, jitter_ms_for
from scoot.schedule.triggers import Trigger
from scoot.testing.model_server import ScriptedModel
from tests.helpers import audit, run_scoot, runs, write_config


@settings(max_examples=300, deadline=None)
@given(
    job_id=st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True),
    instant=st.integers(0, 253_402_300_799),
    jitter_sec=st.integers(0, 100_000),
    gap=st.one_of(st.none(), st.floats(0.001, 10**6)),
)
def test_jitter_is_bounded_and_deterministic(
    job_id: str, instant: int, jitter_sec: int, gap: float | None
) -> None:
    delay = jitter_ms(job_id, float(instant), jitter_sec, gap)
    assert 0 <= delay <= jitter_sec * 1000
    if gap is not None:
        assert delay < gap * 1000  # never starts after the next instant is due
    assert delay == jitter_ms(job_id, float(instant), jitter_sec, gap)
    assert delay == jitter_ms(job_id, instant, jitter_sec, gap)  # 1 and 1.0 agree


def test_jitter_spreads_over_the_range_and_differs_per_job() -> None:
    delays = [jitter_ms("report", 1_700_000_000.0 + 60 * k, 120, None) for k in range(400)]
    assert min(delays) < 20_000 and max(delays) > 100_000  # spread, not clustered
    assert len(set(delays)) > 350
    other = [jitter_ms("backup", 1_700_000_000.0 + 60 * k, 120, None) for k in range(400)]
    assert delays != other


def test_jitter_stays_below_the_gap_to_the_next_instant() -> None:
    every_minute = Trigger.from_cron("* * * * *")
    delays = [jitter_ms_for("a", every_minute, 1_700_000_040.0 + 60 * k, 600) for k in range(200)]
    assert max(delays) < 60_000 and min(delays) >= 0
    every_ten = Trigger.every(10, "epoch")
    assert all(jitter_ms_for("a", every_ten, 10.0 * k, 3600) < 10_000 for k in range(200))
    assert jitter_ms_for("a", every_minute, 1_700_000_040.0, 0) == 0


def test_a_real_run_starts_at_the_previewed_instant_plus_its_jitter(tmp_path: Path) -> None:
    """The preview's instant and jitter are what the daemon claims, records and waits."""
    home = tmp_path / "home"
    at = float(int(time.time()) + 3)
    with ScriptedModel({"default": [{"final": "done"}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            jobs=[{"id": "late", "goal": "check", "at_unix": at, "jitter_sec": 2}],
        )
        preview = run_scoot(home, "schedule", "next", "late", "--json")
        assert preview.returncode == 0, preview.stderr
        (fire,) = json.loads(preview.stdout)["jobs"][0]["fires"]
        assert fire["unix"] == at
        done = run_scoot(home, "schedule", "run", timeout=60)
        assert done.returncode == 0, done.stderr
    (start,) = [row for row in audit(home) if row["kind"] == "job_start"]
    assert start["instant"] == at
    assert start["jitter_ms"] == fire["jitter_ms"]
    (run,) = runs(home)
    assert run["instant"] == at
    # The worker was launched no earlier than instant + jitter (a start can only be late).
    assert run["started_at"] >= at + fire["jitter_ms"] / 1000 - 0.001


def test_schedule_list_and_next_show_the_same_jitter(tmp_path: Path) -> None:
    # A yearly job, so the next instant cannot change between the two commands.
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "hourly", "goal": "g", "cron": "0 0 1 1 *", "jitter_sec": 900}])
    listing = json.loads(run_scoot(home, "schedule", "list", "--json").stdout)["jobs"][0]
    preview = run_scoot(home, "schedule", "next", "hourly", "--count", "1", "--json")
    (fire,) = json.loads(preview.stdout)["jobs"][0]["fires"]
    assert listing["next_fire_unix"] == fire["unix"]
    assert listing["next_jitter_ms"] == fire["jitter_ms"] and listing["jitter_sec"] == 900
    text = run_scoot(home, "schedule", "list").stdout
    assert f"+{fire['jitter_ms'] / 1000:.3f}s jitter" in text
