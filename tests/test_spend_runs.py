"""Spend end to end: the real `scoot`, real workers and the scripted model on loopback.

Tokens are counted from both APIs' answers, budgets stop runs and skip fires,
named backends fall back only when unavailable, caps hold across jobs, 429
answers are waited out as told, and failed runs are retried as new records.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from scoot.cli.views import render_status
from scoot.testing.model_server import ScriptedModel
from tests.helpers import audit, ledger_jobs, run_scoot, runs, supervise, write_config
from worker.main import FrameWriter, read_spec

STEP = {"action": "glob", "action_input": "*.none"}
USED = {"input": 100, "output": 50}


def job(job_id: str, goal: str = "work", **extra: object) -> dict[str, object]:
    return {"id": job_id, "goal": goal, "every_sec": 3600, **extra}


def events(home: Path, kind: str) -> list[dict]:
    return [row for row in audit(home) if row["kind"] == kind]


def last_instant(home: Path, job_id: str) -> float:
    return float(ledger_jobs(home)[job_id]["last_instant"])


# -- counting -----------------------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_tokens_of_every_answer_are_recorded(tmp_path: Path, api: str) -> None:
    script = {
        "default": [{**STEP, "usage": USED}, {"final": "done", "usage": {"input": 7, "output": 3}}]
    }
    with ScriptedModel(script) as model:
        home = tmp_path / "home"
        write_config(
            home, base_url=model.base_url, jobs=[job("a")], sections={"backend": {"api": api}}
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    (row,) = runs(home)
    assert row["tokens"] == {"input": 107, "output": 53}
    assert row["tokens_reported"] is True and "cost" not in row
    (end,) = events(home, "job_end")
    assert end["tokens"] == {"input": 107, "output": 53}
    history = run_scoot(home, "schedule", "history")
    assert "107/53" in history.stdout


def test_a_server_that_reports_no_usage_counts_zero(tmp_path: Path) -> None:
    with ScriptedModel({"usage": None, "default": [{"final": "done"}]}) as model:
        home = tmp_path / "home"
        write_config(home, base_url=model.base_url, jobs=[job("a")])
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    (row,) = runs(home)
    assert (row["tokens"], row["tokens_reported"]) == ({"input": 0, "output": 0}, False)


def test_prices_give_each_run_its_cost(tmp_path: Path) -> None:
    with ScriptedModel({"default": [{"final": "done", "usage": USED}]}) as model:
        home = tmp_path / "home"
        prices = {"price_per_mtok_input": 2.0, "price_per_mtok_output": 4.0}
        write_config(home, base_url=model.base_url, jobs=[job("a")], sections={"backend": prices})
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    (row,) = runs(home)
    assert row["cost"] == pytest.approx((100 * 2.0 + 50 * 4.0) / 1e6)


# -- budgets ------------------------------------------------------------------------


def test_a_run_stops_before_the_request_past_its_budget(tmp_path: Path) -> None:
    script = {"default": [{**STEP, "usage": USED}] * 5 + [{"final": "done"}]}
    with ScriptedModel(script) as model:
        home = tmp_path / "home"
        write_config(
            home,
            base_url=model.base_url,
            jobs=[job("a", max_tokens_per_run=250, retries=2, retry_backoff_sec=0)],
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
        asked = len(model.requests)
    assert done.returncode == 1
    (row,) = runs(home)  # a budget ending is never retried
    assert row["status"] == "budget"
    assert row["tokens"] == {"input": 200, "output": 100}
    assert "token budget reached (300 of 250" in row["error"]
    assert asked == 2  # the third request was never sent
    assert not events(home, "job_retry")


def test_a_spent_job_day_budget_skips_fires_once_per_exhaustion(tmp_path: Path) -> None:
    with ScriptedModel({"default": [{"final": "done", "usage": USED}]}) as model:
        home = tmp_path / "home"
        spender = {"id": "a", "goal": "g", "every_sec": 1, "max_tokens_per_day": 100}
        write_config(home, base_url=model.base_url, jobs=[spender])
        first = run_scoot(home, "schedule", "run", "--ticks", "1")
        assert first.returncode == 0, first.stderr
        before = last_instant(home, "a")
        again = run_scoot(home, "schedule", "run", "--ticks", "35")
        served = len(model.requests)
    assert again.returncode == 0, again.stderr
    assert len(runs(home)) == 1 and served == 1
    # Several instants passed while the budget was spent, and one event says so.
    assert last_instant(home, "a") >= before + 2
    skipped = [e for e in events(home, "job_skipped") if e.get("reason") == "budget"]
    assert len(skipped) == 1
    assert "max_tokens_per_day=100" in skipped[0]["msg"]
    listing = run_scoot(home, "schedule", "list")
    assert "spend: 150 tokens in 24 h of 100 (max_tokens_per_day)" in listing.stdout


def test_a_spent_global_budget_skips_every_job(tmp_path: Path) -> None:
    with ScriptedModel({"default": [{"final": "done", "usage": USED}]}) as model:
        home = tmp_path / "home"
        budget = {"budget": {"max_tokens_per_day": 120}}
        write_config(home, base_url=model.base_url, jobs=[job("a")], sections=budget)
        assert run_scoot(home, "schedule", "run", "--ticks", "1").returncode == 0
        write_config(home, base_url=model.base_url, jobs=[job("a"), job("b")], sections=budget)
        again = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert again.returncode == 0, again.stderr
    assert [r["job_id"] for r in runs(home)] == ["a"]
    # a is not due again within the hour; b is due, and all jobs' spend forbids it.
    (skipped,) = events(home, "job_skipped")
    assert (skipped["job_id"], skipped["reason"]) == ("b", "budget")
    assert "[budget] max_tokens_per_day=120" in skipped["msg"]
    listing = run_scoot(home, "schedule", "list")
    assert "budget: 150 tokens in 24 h of 120 (max_tokens_per_day)" in listing.stdout


def test_what_remains_of_a_day_budget_bounds_a_run(tmp_path: Path) -> None:
    script = {"default": [{**STEP, "usage": USED}] * 5 + [{"final": "done"}]}
    with ScriptedModel(script) as model:
        home = tmp_path / "home"
        write_config(
            home,
            base_url=model.base_url,
            jobs=[job("a")],
            sections={"budget": {"max_tokens_per_day": 400}},
        )
        run_scoot(home, "schedule", "run", "--ticks", "1")
    (row,) = runs(home)
    assert row["status"] == "budget"
    assert row["tokens"]["input"] + row["tokens"]["output"] == 450  # 3 answers, then stopped


def overspender(spec_fd: int, frame_fd: int, parent_pid: int) -> int:
    """A worker that ignores its allowance: it keeps reporting answers."""
    emit = FrameWriter(frame_fd)
    spec = read_spec(spec_fd)
    emit(
        {
            "type": "hello",
            "pid": os.getpid(),
            "run_id": spec["run_id"],
            "job_id": spec["job_id"],
            "mode": spec["mode"],
            "sandbox": {"summary": "test body"},
        }
    )
    for _ in range(50):
        emit({"type": "usage", "input": 40, "output": 10, "reported": True, "backend": "default"})
        time.sleep(0.1)
    emit({"type": "result", "status": "ok", "answer": "spent it all", "error": None})
    return 0


def test_the_parent_ends_a_worker_that_spends_past_its_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOOT_BUDGET_MAX_TOKENS_PER_DAY", "100")
    supervisor, _ = supervise(tmp_path / "home", overspender, ["spend"], timeout_sec=30)
    ((_, outcome),) = supervisor.summary.outcomes
    assert outcome.status == "budget"
    assert "past its budget" in (outcome.error or "")
    assert outcome.tokens is not None
    # Two answers reach the allowance; the third was asked for past it and ends the run.
    assert outcome.tokens["input"] + outcome.tokens["output"] <= 200


# -- backends -----------------------------------------------------------------------


def test_an_unreachable_backend_falls_back_and_is_audited(tmp_path: Path) -> None:
    with ScriptedModel({"default": [{"final": "from the cloud", "usage": USED}]}) as cloud:
        home = tmp_path / "home"
        write_config(
            home,
            jobs=[job("a", backend="local")],
            sections={
                "backends.local": {
                    "base_url": "http://127.0.0.1:9/v1",
                    "retries": 0,
                    "fallback": "cloud",
                },
                "backends.cloud": {"base_url": cloud.base_url, "model": "scripted"},
            },
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stderr
    (row,) = runs(home)
    assert (row["status"], row["answer"], row["backend"]) == ("ok", "from the cloud", "local")
    assert row["tokens"] == {"input": 100, "output": 50}
    (fallback,) = events(home, "backend_fallback")
    assert (fallback["from"], fallback["to"]) == ("local", "cloud")
    assert "unreachable" in fallback["msg"]


def test_5xx_and_429_after_retries_fall_back(tmp_path: Path) -> None:
    with (
        ScriptedModel(
            {
                "rules": [
                    {"match": "five", "steps": [{"status": 503}]},
                    {"match": "rate", "steps": [{"status": 429}]},
                ]
            }
        ) as local,
        ScriptedModel({"default": [{"final": "fallback answered"}]}) as cloud,
    ):
        home = tmp_path / "home"
        write_config(
            home,
            jobs=[job("five", "five"), job("rate", "rate")],
            sections={
                "backend": {"base_url": local.base_url, "retries": 1, "fallback": "cloud"},
                "backends.cloud": {"base_url": cloud.base_url, "model": "scripted"},
            },
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
        tried_local = len(local.requests)
    assert done.returncode == 0, done.stderr
    assert sorted((r["job_id"], r["status"]) for r in runs(home)) == [
        ("five", "ok"),
        ("rate", "ok"),
    ]
    assert tried_local == 4  # each job: the request and its one retry
    assert sorted(e["from"] + ">" + e["to"] for e in events(home, "backend_fallback")) == [
        "default>cloud",
        "default>cloud",
    ]


def test_a_backend_without_fallback_fails_closed(tmp_path: Path) -> None:
    with (
        ScriptedModel({"default": [{"status": 503}]}) as local,
        ScriptedModel({"default": [{"final": "paid answer"}]}) as cloud,
    ):
        home = tmp_path / "home"
        write_config(
            home,
            jobs=[job("pinned", backend="local")],
            sections={
                "backends.local": {"base_url": local.base_url, "model": "scripted", "retries": 0},
                "backends.cloud": {"base_url": cloud.base_url, "model": "scripted"},
            },
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
        paid = len(cloud.requests)
    assert done.returncode == 1
    (row,) = runs(home)
    assert row["status"] == "error" and "HTTP 503" in row["error"]
    assert paid == 0 and not events(home, "backend_fallback")


def test_a_refusal_is_not_a_reason_to_fall_back(tmp_path: Path) -> None:
    with (
        ScriptedModel({"default": [{"status": 401}]}) as local,
        ScriptedModel({"default": [{"final": "paid answer"}]}) as cloud,
    ):
        home = tmp_path / "home"
        write_config(
            home,
            jobs=[job("a")],
            sections={
                "backend": {"base_url": local.base_url, "fallback": "cloud"},
                "backends.cloud": {"base_url": cloud.base_url, "model": "scripted"},
            },
        )
        run_scoot(home, "schedule", "run", "--ticks", "1")
        paid = len(cloud.requests)
    (row,) = runs(home)
    assert row["status"] == "error" and paid == 0


def test_max_concurrent_per_backend_holds_across_jobs(tmp_path: Path) -> None:
    slow = {"default": [{"final": "done", "delay_ms": 400}]}
    with ScriptedModel(slow) as local:
        home = tmp_path / "home"
        write_config(
            home,
            jobs=[job(f"j{n}", backend="local") for n in range(3)],
            schedule={"max_concurrent": 4},
            sections={
                "backends.local": {
                    "base_url": local.base_url,
                    "model": "scripted",
                    "max_concurrent": 1,
                }
            },
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
        peak = local.peak_in_flight
        in_flight = [r.in_flight for r in local.requests]
    assert done.returncode == 0, done.stderr
    assert sorted(r["status"] for r in runs(home)) == ["ok"] * 3
    assert (peak, in_flight) == (1, [1, 1, 1])
    waited = [e for e in events(home, "job_queued") if e.get("backend") == "local"]
    assert len(waited) == 2 and all("max_concurrent=1" in e["msg"] for e in waited)


def test_daemon_status_shows_runs_waiting_for_a_backend() -> None:
    report = {
        "home": "/h",
        "verdict": "running",
        "pid_file": 1,
        "state": {"status": "running", "pid": 1, "waiting_for_backend": {"local": 2}},
    }
    assert "waiting for a backend slot (max_concurrent): 2 for local" in render_status(report)


def test_retry_after_of_a_429_is_waited_out(tmp_path: Path) -> None:
    script = {"default": [{"status": 429, "fail_times": 1, "retry_after": 1.5, "final": "done"}]}
    with ScriptedModel(script) as model:
        home = tmp_path / "home"
        write_config(
            home, base_url=model.base_url, jobs=[job("a")], sections={"backend": {"retries": 1}}
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
        asked = [r.received_at for r in model.requests]
    assert done.returncode == 0, done.stderr
    assert len(asked) == 2
    # The backoff alone would wait at most 0.5 s; the server asked for 1.5 s.
    assert asked[1] - asked[0] >= 1.4


# -- retries ------------------------------------------------------------------------


def test_failed_runs_are_retried_each_as_its_own_record(tmp_path: Path) -> None:
    with ScriptedModel({"default": [{"status": 500}]}) as model:
        home = tmp_path / "home"
        write_config(home, base_url=model.base_url, jobs=[job("a", retries=2, retry_backoff_sec=1)])
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 1
    rows = runs(home)
    assert [(r["attempt"], r["status"]) for r in rows] == [(1, "error"), (2, "error"), (3, "error")]
    assert len({r["instant"] for r in rows}) == 1 and len({r["run_id"] for r in rows}) == 3
    retried = events(home, "job_retry")
    assert [(e["attempt"], e["delay_sec"]) for e in retried] == [(2, 1), (3, 2)]
    # Each attempt waited its backoff (doubled) after the one before ended.
    assert rows[1]["started_at"] - rows[0]["ended_at"] >= 0.9
    assert rows[2]["started_at"] - rows[1]["ended_at"] >= 1.9
    history = run_scoot(home, "schedule", "history")
    assert "(attempt 3)" in history.stdout


def test_a_retry_that_succeeds_ends_the_attempts(tmp_path: Path) -> None:
    script = {"default": [{"status": 500, "fail_times": 1, "final": "second time lucky"}]}
    with ScriptedModel(script) as model:
        home = tmp_path / "home"
        write_config(home, base_url=model.base_url, jobs=[job("a", retries=3, retry_backoff_sec=0)])
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 1  # the first attempt failed, and says so
    assert [(r["attempt"], r["status"]) for r in runs(home)] == [(1, "error"), (2, "ok")]


def test_denied_runs_are_not_retried(tmp_path: Path) -> None:
    denied = {"action": "file_write", "action_input": json.dumps({"path": "x", "content": "y"})}
    with ScriptedModel({"default": [denied, denied]}) as model:
        home = tmp_path / "home"
        write_config(
            home,
            base_url=model.base_url,
            jobs=[job("a", retries=2, retry_backoff_sec=0)],
            sections={"agent": {"max_turns": 2}},
        )
        run_scoot(home, "schedule", "run", "--ticks", "1")
    assert [r["status"] for r in runs(home)] == ["denied"]
    assert not events(home, "job_retry")


def test_config_shows_named_backends_and_a_bad_fallback_stops_with_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(
        home,
        jobs=[job("a", backend="local")],
        sections={"backends.local": {"max_concurrent": 2, "fallback": "default"}},
    )
    shown = run_scoot(home, "config")
    assert shown.returncode == 0, shown.stderr
    assert "[backends.local]" in shown.stdout and "  max_concurrent = 2" in shown.stdout
    write_config(
        home,
        jobs=[job("a", backend="local")],
        sections={"backends.local": {"fallback": "cloud"}},
    )
    refused = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert refused.returncode == 2
    assert "[backends.local] fallback = 'cloud' names no backend" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert not (home / "state" / "runs.jsonl").exists()


@pytest.mark.timeout(120)
def test_daemon_status_shows_who_waits_for_a_backend(tmp_path: Path) -> None:
    from tests.helpers import start_scoot, stop, wait_for

    with ScriptedModel({"default": [{"final": "done", "delay_ms": 3000}]}) as local:
        home = tmp_path / "home"
        write_config(
            home,
            jobs=[job(f"j{n}", backend="local") for n in range(3)],
            sections={
                "backends.local": {
                    "base_url": local.base_url,
                    "model": "scripted",
                    "max_concurrent": 1,
                }
            },
        )
        daemon = start_scoot(home, "daemon", "run")
        try:

            def status_line() -> str | None:
                shown = run_scoot(home, "daemon", "status").stdout
                lines = [line for line in shown.splitlines() if line.startswith("waiting for")]
                return lines[0] if lines else None

            assert wait_for(status_line, timeout=20) == (
                "waiting for a backend slot (max_concurrent): 2 for local"
            )
            wait_for(lambda: len(runs(home)) == 3, timeout=60)
            wait_for(lambda: status_line() is None, timeout=10)
        finally:
            stop(daemon)
        assert local.peak_in_flight == 1
