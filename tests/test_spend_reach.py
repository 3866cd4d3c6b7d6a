"""Tokens, cost and delivery outcomes reach metrics, notifications and `schedule last`:
a real daemon or `schedule run`, the scripted model, a real receiver on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scoot.testing.model_server import ScriptedModel
from tests.helpers import audit, run_scoot, runs, start_scoot, stop, wait_for, write_config
from tests.receiver import Receiver
from tests.test_metrics import free_port, scrape, value, wait_serving

USED = {"input": 120, "output": 30}
PRICES = {"price_per_mtok_input": 2.0, "price_per_mtok_output": 4.0}


def _kinds(home: Path, prefix: str) -> list[dict[str, Any]]:
    return [row for row in audit(home) if row["kind"].startswith(prefix)]


def test_a_scrape_shows_the_tokens_of_the_run_records(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    with ScriptedModel({"usage": USED, "default": [{"final": "done"}]}) as model:
        jobs = [{"id": f"j{i}", "goal": "quick", "every_sec": 3600} for i in range(2)]
        write_config(
            home,
            base_url=model.base_url,
            jobs=jobs,
            sections={"metrics": {"listen": f"127.0.0.1:{port}"}},
        )
        proc = start_scoot(home, "daemon", "run")
        try:
            wait_serving(proc, port)
            wait_for(lambda: len(runs(home)) == 2, timeout=30)
            families = wait_for(
                lambda: (
                    (f := scrape(port))
                    and value(f, "scoot_tokens_total", job="j1", direction="output")
                    and f
                ),
                timeout=10,
            )
        finally:
            _, err = stop(proc)
    assert "Traceback" not in err
    for row in runs(home):
        job = row["job_id"]
        assert row["tokens"] == USED
        for direction in ("input", "output"):
            got = value(families, "scoot_tokens_total", job=job, direction=direction)
            assert got == USED[direction]


def test_a_scrape_counts_sent_and_failed_deliveries(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    replies = iter([503])  # the first attempt fails, its retry and the rest succeed
    with (
        ScriptedModel({"default": [{"final": "done"}]}) as model,
        Receiver(lambda _r: next(replies, 200)) as receiver,
    ):
        job = {
            "id": "j",
            "goal": "g",
            "every_sec": 3600,
            "notify": ["ops"],
            "notify_on": ["start", "success"],
        }
        write_config(
            home,
            base_url=model.base_url,
            jobs=[job],
            sections={
                "metrics": {"listen": f"127.0.0.1:{port}"},
                "notify.ops": {"url": f"{receiver.url}/hook", "timeout_sec": 2},
            },
        )
        proc = start_scoot(home, "daemon", "run")
        try:
            wait_serving(proc, port)
            families = wait_for(
                lambda: (
                    (f := scrape(port))
                    and value(f, "scoot_notify_total", target="ops", result="sent") == 2
                    and f
                ),
                timeout=40,
            )
        finally:
            _, err = stop(proc)
    assert "Traceback" not in err
    assert value(families, "scoot_notify_total", target="ops", result="failed") == 1
    assert value(families, "scoot_notify_total", target="ops", result="abandoned") is None
    # The counts are those of the audit log, which the same outcomes wrote.
    outcomes = [e["kind"] for e in _kinds(home, "notify_")]
    assert sorted(outcomes) == ["notify_failed", "notify_sent", "notify_sent"]
    assert len(receiver.posts()) == 3


def test_an_abandoned_delivery_counts_as_abandoned(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    with (
        ScriptedModel({"default": [{"final": "done"}]}) as model,
        Receiver(lambda _r: 502) as receiver,
    ):
        job = {"id": "j", "goal": "g", "every_sec": 3600, "notify": ["ops"]}
        job["notify_on"] = ["success"]
        write_config(
            home,
            base_url=model.base_url,
            jobs=[job],
            sections={
                "metrics": {"listen": f"127.0.0.1:{port}"},
                "notify.ops": {"url": f"{receiver.url}/hook", "timeout_sec": 1},
                "notify": {"max_age_hours": 0.001},  # 3.6 s
            },
        )
        proc = start_scoot(home, "daemon", "run")
        try:
            wait_serving(proc, port)
            families = wait_for(
                lambda: (
                    (f := scrape(port))
                    and value(f, "scoot_notify_total", target="ops", result="abandoned") == 1
                    and f
                ),
                timeout=40,
            )
        finally:
            stop(proc)
    failed = value(families, "scoot_notify_total", target="ops", result="failed")
    assert failed is not None and failed >= 1
    assert failed == len([e for e in _kinds(home, "notify_failed")])
    assert value(families, "scoot_notify_total", target="ops", result="sent") is None


def test_notifications_and_schedule_last_carry_tokens_and_cost(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with (
        ScriptedModel({"usage": USED, "default": [{"final": "done"}]}) as model,
        Receiver() as receiver,
    ):
        job = {"id": "j", "goal": "g", "every_sec": 3600, "notify": ["ops"]}
        job["notify_on"] = ["start", "success"]
        write_config(
            home,
            base_url=model.base_url,
            jobs=[job],
            sections={
                "backend": PRICES,
                "notify.ops": {"url": f"{receiver.url}/hook", "timeout_sec": 5},
                "notify": {"flush_timeout_sec": 20},
            },
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
        assert done.returncode == 0, done.stderr
        bodies = {p.json["event"]: p.json for p in receiver.posts()}
    (row,) = runs(home)
    expected_cost = (120 * 2.0 + 30 * 4.0) / 1e6
    assert row["cost"] == pytest.approx(expected_cost)
    assert bodies["success"]["tokens"] == USED
    assert bodies["success"]["cost"] == pytest.approx(expected_cost)
    assert bodies["start"]["tokens"] is None and "cost" not in bodies["start"]

    last = run_scoot(home, "schedule", "last", "j")
    assert last.returncode == 0, last.stderr
    assert "tokens:   120 input, 30 output\n" in last.stdout
    assert f"cost:     {expected_cost:.6f}\n" in last.stdout
    report = json.loads(run_scoot(home, "schedule", "last", "j", "--json").stdout)["run"]
    assert report["tokens"] == USED
    assert report["cost"] == pytest.approx(expected_cost)


def test_an_unpriced_run_notifies_tokens_without_cost(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with (
        ScriptedModel({"usage": USED, "default": [{"final": "done"}]}) as model,
        Receiver() as receiver,
    ):
        job = {"id": "j", "goal": "g", "every_sec": 3600, "notify": ["ops"]}
        job["notify_on"] = ["success"]
        write_config(
            home,
            base_url=model.base_url,
            jobs=[job],
            sections={"notify.ops": {"url": f"{receiver.url}/hook", "timeout_sec": 5}},
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
        assert done.returncode == 0, done.stderr
        (post,) = receiver.posts()
    assert post.json["tokens"] == USED and "cost" not in post.json
    last = run_scoot(home, "schedule", "last", "j")
    assert "tokens:   120 input, 30 output\n" in last.stdout and "cost:" not in last.stdout


def test_a_fire_skipped_for_a_spent_budget_is_one_failure_notification(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with (
        ScriptedModel({"default": [{"final": "done", "usage": USED}]}) as model,
        Receiver() as receiver,
    ):
        spender = {"id": "a", "goal": "g", "every_sec": 1, "max_tokens_per_day": 100}
        spender["notify"] = ["ops"]  # notify_on: failure and recovery (the default)
        write_config(
            home,
            base_url=model.base_url,
            jobs=[spender],
            sections={
                "notify.ops": {"url": f"{receiver.url}/hook", "timeout_sec": 5},
                "notify": {"flush_timeout_sec": 20},
            },
        )
        first = run_scoot(home, "schedule", "run", "--ticks", "1")
        assert first.returncode == 0, first.stderr
        assert receiver.posts() == []  # an ok first run is neither failure nor recovery
        again = run_scoot(home, "schedule", "run", "--ticks", "35")
        assert again.returncode == 0, again.stderr
        posts = receiver.posts()
    assert len(runs(home)) == 1
    skipped = [e for e in audit(home) if e["kind"] == "job_skipped" and e["reason"] == "budget"]
    assert len(skipped) == 1  # several instants passed; the exhaustion is told once
    (post,) = posts
    body = post.json
    assert post.headers["X-Scoot-Event"] == "failure" == body["event"]
    assert (body["job_id"], body["run_id"], body["status"]) == ("a", None, "skipped")
    assert "max_tokens_per_day=100" in body["error"]
    assert body["instant"] == skipped[0]["instant"]
    assert [e["kind"] for e in _kinds(home, "notify_")] == ["notify_sent"]
