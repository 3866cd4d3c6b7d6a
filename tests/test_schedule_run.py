"""`schedule run`: firing, the ledger's exactly-once rules, run control, exit codes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from scoot.testing.model_server import ScriptedModel
from tests.helpers import (
    audit_kinds,
    ledger_jobs,
    read_jsonl,
    run_scoot,
    runs,
    start_scoot,
    write_config,
)

FINAL = {"default": [{"final": "all good"}]}


@pytest.fixture
def model():
    with ScriptedModel(FINAL) as server:
        yield server


def test_disabled_schedule_refuses_with_hint(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, schedule={"enabled": False}, jobs=[{"id": "a", "goal": "g", "every_sec": 5}])
    done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 1
    assert "enabled = true" in done.stderr
    assert not (home / "state" / "runs.jsonl").exists()


def test_no_runnable_job_fails_ticks_with_message(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "../x", "goal": "g", "every_sec": 5}])
    done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 1, done.stderr
    assert "no runnable jobs (1 invalid job: ../x)" in done.stderr


def test_ticks_one_fires_due_jobs_and_records_everything(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(
        home,
        base_url=model.base_url,
        jobs=[
            {"id": "every", "goal": "check", "every_sec": 300},
            {"id": "minute", "goal": "check", "cron": "* * * * *"},
            {"id": "future", "goal": "check", "at_unix": time.time() + 3600},
        ],
    )
    done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    assert "[scoot] job every started (mode=readonly)" in done.stdout
    assert "[scoot] job every OK: all good" in done.stdout
    fired = sorted(r["job_id"] for r in runs(home))
    assert fired == ["every", "minute"]
    assert all(r["status"] == "ok" and r["peak_rss_kb"] for r in runs(home))
    kinds = audit_kinds(home)
    assert kinds.count("job_start") == 2 and kinds.count("job_end") == 2
    assert "sandbox" in kinds and "final" in kinds
    seqs = [r["seq"] for r in read_jsonl(home / "logs" / "audit.jsonl")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    session = read_jsonl(home / "state" / "sessions" / "job-every.jsonl")
    assert [row["role"] for row in session][:2] == ["system", "user"]
    assert ledger_jobs(home)["every"]["in_flight"] == []
    assert not list((home / "state" / "scratch").iterdir())


def test_every_sec_keeps_cadence_across_tick_invocations(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "e", "goal": "g", "every_sec": 3600}])
    assert run_scoot(home, "schedule", "run", "--ticks", "1").returncode == 0
    again = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert again.returncode == 0
    assert len(runs(home)) == 1  # the next instant is an hour away


def test_at_unix_fires_once_across_restarts(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(
        home,
        base_url=model.base_url,
        jobs=[{"id": "once", "goal": "g", "at_unix": time.time() - 5}],
    )
    for _ in range(3):
        assert run_scoot(home, "schedule", "run", "--ticks", "1").returncode == 0
    assert [r["job_id"] for r in runs(home)] == ["once"]
    listing = run_scoot(home, "schedule", "list")
    assert "INACTIVE once" in listing.stdout and "already fired" in listing.stdout


def test_concurrent_tick_processes_never_double_fire_a_cron_minute(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "ok", "delay_ms": 300}]}) as model:
        write_config(
            home, base_url=model.base_url, jobs=[{"id": "m", "goal": "g", "cron": "* * * * *"}]
        )
        procs = [start_scoot(home, "schedule", "run", "--ticks", "1") for _ in range(4)]
        for proc in procs:
            proc.communicate(timeout=30)
            assert proc.returncode == 0
    minutes = {int(r["instant"]) // 60 for r in runs(home)}
    assert len(runs(home)) == len(minutes), runs(home)


def test_failed_run_makes_ticks_exit_nonzero(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "x", "status": 401}]}) as model:
        write_config(
            home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "every_sec": 60}]
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 1
    assert "failed (error)" in done.stdout and "continuing" in done.stdout
    assert runs(home)[0]["status"] == "error"


def test_overlap_is_skipped_and_audited(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "slow", "delay_ms": 1500}]}) as model:
        write_config(home, base_url=model.base_url, jobs=[{"id": "s", "goal": "g", "every_sec": 1}])
        done = run_scoot(home, "schedule", "run", "--ticks", "12")  # 1.2 s of polls at 100 ms
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = [r for r in read_jsonl(home / "logs" / "audit.jsonl") if r["kind"] == "job_skipped"]
    assert skipped and skipped[0]["reason"] == "overlap"
    assert len(runs(home)) == 1


def test_max_concurrent_queues_in_due_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "ok", "delay_ms": 200}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            schedule={"max_concurrent": 1},
            jobs=[{"id": f"j{i}", "goal": "g", "every_sec": 3600} for i in range(3)],
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    rows = sorted(runs(home), key=lambda r: r["started_at"])
    assert len(rows) == 3
    for before, after in zip(rows, rows[1:], strict=False):
        assert before["ended_at"] <= after["started_at"] + 0.01
    assert audit_kinds(home).count("job_queued") == 2


def test_timeout_terminates_the_run_group(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "never", "hang": True}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            sections={"backend": {"timeout_ms": 60000}},
            jobs=[{"id": "t", "goal": "g", "every_sec": 3600, "timeout_sec": 1}],
        )
        started = time.monotonic()
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
        took = time.monotonic() - started
    assert done.returncode == 1
    assert took < 30  # the 1 s job timeout, far below the backend's 60 s
    (row,) = runs(home)
    assert row["status"] == "timeout"
    assert "job_timeout" in audit_kinds(home)


def test_history_and_trigger(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(
        home, base_url=model.base_url, jobs=[{"id": "t", "goal": "g", "cron": "0 0 1 1 *"}]
    )
    done = run_scoot(home, "schedule", "trigger", "t")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "all good"
    history = run_scoot(home, "schedule", "history", "--json")
    (row,) = json.loads(history.stdout)["runs"]
    assert row["origin"] == "trigger" and row["status"] == "ok"
    text = run_scoot(home, "schedule", "history", "t")
    assert "ok" in text.stdout
    listing = run_scoot(home, "schedule", "list")
    assert "last run: ok" in listing.stdout
    missing = run_scoot(home, "schedule", "trigger", "nope")
    assert missing.returncode == 2 and "no job 'nope'" in missing.stderr


def write_ledger(home: Path, jobs: dict) -> None:
    (home / "state").mkdir(parents=True, exist_ok=True)
    body = {"format": "scoot.schedule.ledger.v1", "jobs": jobs}
    (home / "state" / "ledger.json").write_text(json.dumps(body))


def test_corrupt_ledger_falls_back_to_reset_with_warning(tmp_path: Path, model) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "e", "goal": "g", "every_sec": 3600}])
    (home / "state").mkdir(parents=True, exist_ok=True)
    (home / "state" / "ledger.json").write_text('{"format": "scoot.schedule.ledger.v1", "jo')
    done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0
    assert "unreadable" in done.stderr and "reset" in done.stderr
    assert len(runs(home)) == 1  # fired as after a restart
    assert (home / "state" / "ledger.json.corrupt").exists()
    json.loads((home / "state" / "ledger.json").read_text())  # rewritten whole


def test_missed_every_instants_coalesce_into_one_fire_and_are_audited(
    tmp_path: Path, model
) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "e", "goal": "g", "every_sec": 60}])
    last = time.time() - 3600 - 30
    write_ledger(home, {"e": {"trigger": "every:60", "last_instant": last, "in_flight": []}})
    done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    (row,) = runs(home)
    assert abs(row["instant"] - (last + 3600)) < 1e-3  # the latest instant, on the grid
    (missed,) = [r for r in read_jsonl(home / "logs" / "audit.jsonl") if r["kind"] == "job_missed"]
    assert missed["count"] == 59
    assert missed["first_instant"] == pytest.approx(last + 60)


@pytest.mark.parametrize(("catch_up", "fired"), [("skip", 0), ("once", 1)])
def test_catch_up_decides_about_instants_missed_while_down(
    tmp_path: Path, model, catch_up: str, fired: int
) -> None:
    home = tmp_path / "home"
    now = time.time()
    # A daily job whose last run was two days ago; today's instant is hours old.
    hour = (time.gmtime(now).tm_hour - 3) % 24
    cron = f"0 {hour} * * *"
    write_config(
        home,
        base_url=model.base_url,
        jobs=[{"id": "d", "goal": "g", "cron": cron, "catch_up": catch_up}],
    )
    write_ledger(
        home,
        {
            "d": {
                "trigger": f"cron:{cron}",
                "last_instant": now - 2 * 86400 - 4 * 3600,
                "in_flight": [],
            }
        },
    )
    done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    assert len(runs(home)) == fired
    kinds = audit_kinds(home)
    assert "job_missed" in kinds


def test_recovery_marks_lost_runs_interrupted_but_not_runs_already_recorded(
    tmp_path: Path, model
) -> None:
    home = tmp_path / "home"
    write_config(
        home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "cron": "0 0 1 1 *"}]
    )
    dead = {"owner_pid": 999999, "owner_start": 1.0, "started_at": 1.0, "instant": 60.0}
    write_ledger(
        home,
        {
            "a": {
                "trigger": "cron:0 0 1 1 *",
                "last_instant": 60.0,
                "in_flight": [{"run_id": "lost-run", **dead}, {"run_id": "done-run", **dead}],
            }
        },
    )
    (home / "state" / "runs.jsonl").write_text(
        json.dumps({"run_id": "done-run", "job_id": "a", "status": "ok"}) + "\n"
    )
    done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    statuses = [(r["run_id"], r["status"]) for r in runs(home)]
    assert statuses == [("done-run", "ok"), ("lost-run", "interrupted")]
    ledger = json.loads((home / "state" / "ledger.json").read_text())
    assert ledger["jobs"]["a"]["in_flight"] == []


def test_ledger_times_outside_the_calendar_count_as_no_history(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "c", "goal": "g", "cron": "*/5 * * * *"}])
    write_ledger(
        home, {"c": {"trigger": "cron:*/5 * * * *", "last_instant": -1e300, "in_flight": []}}
    )
    listing = run_scoot(home, "schedule", "list", "--json")
    (job,) = json.loads(listing.stdout)["jobs"]
    assert job["next_fire_unix"] > time.time() - 300
