"""Notifications, pings, result checks and `schedule last`, end to end: the real
`scoot` CLI, the scripted model, and a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from scoot.notify.deliveries import due_entries
from scoot.notify.events import JobMemory, end_events, remember
from scoot.notify.outbox import Entry, mark_alive, process_mark, replace_file, retry_delay
from scoot.testing.model_server import ScriptedModel
from tests.helpers import audit, run_scoot, runs, start_scoot, stop, wait_for, write_config
from tests.receiver import Receiver, verify_signature

SECRET = "whsec-test-1234"


def _config(
    home: Path,
    model: ScriptedModel,
    receiver: Receiver,
    jobs: list[dict[str, Any]],
    *,
    target: dict[str, Any] | None = None,
    notify: dict[str, Any] | None = None,
) -> None:
    sections = {
        "notify.ops": target
        or {"url": f"{receiver.url}/hook", "secret_env": "OPS_SECRET", "timeout_sec": 1},
        "notify": {"flush_timeout_sec": 20, **(notify or {})},
    }
    write_config(home, base_url=model.base_url, jobs=jobs, sections=sections)


def _events(receiver: Receiver) -> list[str]:
    return [r.headers["X-Scoot-Event"] for r in receiver.posts()]


# -- the pure rules -------------------------------------------------------------------
def test_end_events_cover_failure_recovery_success_and_change() -> None:
    fresh = JobMemory()
    assert end_events("error", None, fresh) == ["failure"]
    assert end_events("invalid_result", "x", fresh) == ["failure"]
    assert end_events("ok", "a", fresh) == ["success", "change"]  # a first ok is a change
    after_ok = remember(fresh, "ok", "a")
    assert end_events("ok", "a", after_ok) == ["success"]
    assert end_events("ok", "b", after_ok) == ["success", "change"]
    after_fail = remember(after_ok, "timeout", None)
    assert end_events("ok", "a", after_fail) == ["recovery", "success"]  # same answer as last ok
    assert end_events("ok", "c", after_fail) == ["recovery", "success", "change"]


def test_backoff_grows_with_jitter_and_pings_wait_for_their_elders() -> None:
    assert retry_delay(1, lambda: 0.0) == 1.0 and retry_delay(1, lambda: 1.0) == 3.0
    assert retry_delay(5, lambda: 0.5) == 32.0
    assert retry_delay(40, lambda: 0.5) == 3600.0  # capped
    old = Entry({"delivery_id": "d1", "kind": "ping", "job_id": "j", "next_at": 50})
    young = Entry({"delivery_id": "d2", "kind": "ping", "job_id": "j", "next_at": 0})
    other = Entry({"delivery_id": "d3", "kind": "notify", "job_id": "j", "next_at": 0})
    assert [e.delivery_id for e in due_entries([young, old, other], [], 10, 10)] == ["d3"]
    assert [e.delivery_id for e in due_entries([young, old, other], [], 60, 10)] == ["d1", "d3"]


def test_an_owner_mark_is_alive_only_while_that_very_process_runs() -> None:
    mine = process_mark()
    assert mine.startswith(f"{os.getpid()}:") and mark_alive(mine)
    child = subprocess.Popen(["sleep", "30"])
    try:
        mark = process_mark(child.pid)
        assert mark_alive(mark)
        pid, _, started = mark.partition(":")
        assert not mark_alive(f"{pid}:{float(started) - 3600:.2f}")  # same pid, other process
    finally:
        child.kill()
        child.wait()
    assert not mark_alive(mark)  # reaped
    assert not mark_alive("1:0.00")  # a start never read names no live process
    assert not mark_alive("garbage") and not mark_alive("-5:1.00")


# -- end to end -----------------------------------------------------------------------
def test_webhook_payload_headers_and_signature(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "disk 41% full"}]}) as model, Receiver() as receiver:
        _config(
            home,
            model,
            receiver,
            [
                {
                    "id": "disk",
                    "goal": "check",
                    "every_sec": 60,
                    "notify": ["ops"],
                    "notify_on": ["start", "success"],
                }
            ],
        )
        done = run_scoot(home, "schedule", "trigger", "disk", OPS_SECRET=SECRET)
        assert done.returncode == 0, done.stderr
        assert sorted(_events(receiver)) == ["start", "success"]
        for got in receiver.posts():
            assert got.headers["Content-Type"] == "application/json"
            assert verify_signature(SECRET, got.headers["X-Scoot-Signature"], got.body, time.time())
            assert not verify_signature(
                "wrong", got.headers["X-Scoot-Signature"], got.body, time.time()
            )
            body = got.json
            assert body["format"] == "scoot.notify.v1"
            assert body["delivery_id"] == got.headers["X-Scoot-Delivery"]
            assert body["event"] == got.headers["X-Scoot-Event"]
            assert body["job_id"] == "disk" and body["attempt"] == 1
            assert body["home"] == str(home) and body["host"]
        success = next(r.json for r in receiver.posts() if r.json["event"] == "success")
        record = runs(home)[-1]
        assert success["run_id"] == record["run_id"] and success["status"] == "ok"
        assert success["answer"] == "disk 41% full"
        assert success["duration_ms"] == record["duration_ms"]
        assert success["started_at"] <= success["ended_at"]
        sent = [e for e in audit(home) if e["kind"] == "notify_sent"]
        assert {e["event"] for e in sent} == {"start", "success"}
        assert not list((home / "state" / "outbox").glob("*.json"))


def test_retries_after_5xx_and_a_timeout_keep_one_delivery_id(tmp_path: Path) -> None:
    home = tmp_path / "home"
    replies = iter([503, ("hang", 3), 200])

    with (
        ScriptedModel({"default": [{"final": "done"}]}) as model,
        Receiver(lambda _r: next(replies, 200)) as receiver,
    ):
        _config(
            home,
            model,
            receiver,
            [
                {
                    "id": "j",
                    "goal": "g",
                    "every_sec": 60,
                    "notify": ["ops"],
                    "notify_on": ["success"],
                }
            ],
        )
        done = run_scoot(home, "schedule", "trigger", "j", OPS_SECRET=SECRET, timeout=60)
        assert done.returncode == 0, done.stderr
        posts = receiver.posts()
        assert len(posts) == 3
        assert len({p.headers["X-Scoot-Delivery"] for p in posts}) == 1
        assert [p.json["attempt"] for p in posts] == [1, 2, 3]
        for got in posts:  # each attempt signed anew
            assert verify_signature(SECRET, got.headers["X-Scoot-Signature"], got.body, time.time())
        kinds = [e for e in audit(home) if e["kind"].startswith("notify_")]
        assert [e["kind"] for e in kinds] == ["notify_failed", "notify_failed", "notify_sent"]
        assert "HTTP 503" in kinds[0]["error"] and "timed out" in kinds[1]["error"]
        assert len({e["delivery_id"] for e in kinds}) == 1


def test_kill_9_with_undelivered_then_the_next_process_delivers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    accepting = {"now": False}
    with (
        ScriptedModel({"default": [{"final": "fine"}]}) as model,
        Receiver(lambda _r: 200 if accepting["now"] else 500) as receiver,
    ):
        _config(
            home,
            model,
            receiver,
            [
                {
                    "id": "j",
                    "goal": "g",
                    "every_sec": 3600,
                    "notify": ["ops"],
                    "notify_on": ["success"],
                }
            ],
        )
        first = start_scoot(home, "daemon", "run")
        try:
            wait_for(lambda: any(e["kind"] == "notify_failed" for e in audit(home)), timeout=30)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            stop(first)
        pending = list((home / "state" / "outbox").glob("*.json"))
        assert len(pending) == 1
        lost_id = json.loads(pending[0].read_text())["delivery_id"]
        listing = run_scoot(home, "notify", "pending", "--json")
        assert listing.returncode == 0
        shown = json.loads(listing.stdout)["pending"]
        assert [p["delivery_id"] for p in shown] == [lost_id] and shown[0]["owner_alive"] is False
        accepting["now"] = True
        # A trigger of another job is a new scoot process of this home: it delivers the leftover.
        again = run_scoot(home, "schedule", "trigger", "j", timeout=60)
        assert again.returncode == 0, again.stderr
        delivered = [p for p in receiver.posts() if p.headers["X-Scoot-Delivery"] == lost_id]
        assert delivered and delivered[-1].json["attempt"] >= 2
        assert not list((home / "state" / "outbox").glob("*.json"))
        assert "nothing pending" in run_scoot(home, "notify", "pending").stdout


def test_command_target_gets_the_payload_on_stdin(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = tmp_path / "paged.jsonl"
    script = tmp_path / "page.py"
    script.write_text(
        "import sys\n"
        "data = sys.stdin.read()\n"
        f"open({str(out)!r}, 'a').write(data + '\\n')\n"
        "sys.exit(0 if '\"failure\"' in data else 3)\n"
    )
    with (
        ScriptedModel(
            {
                "rules": [{"match": "broken", "steps": [{"status": 500}]}],
                "default": [{"final": "ok"}],
            }
        ) as model,
        Receiver() as receiver,
    ):
        _config(
            home,
            model,
            receiver,
            [
                {"id": "bad", "goal": "broken", "every_sec": 60, "notify": ["ops"]},
                {
                    "id": "good",
                    "goal": "fine",
                    "every_sec": 60,
                    "notify": ["ops"],
                    "notify_on": ["success"],
                },
            ],
            target={"command": [sys.executable, str(script)], "timeout_sec": 10},
            notify={"flush_timeout_sec": 3},
        )
        assert run_scoot(home, "schedule", "trigger", "bad").returncode == 1
        paged = [json.loads(line) for line in out.read_text().splitlines()]
        assert [p["event"] for p in paged] == ["failure"] and paged[0]["job_id"] == "bad"
        assert paged[0]["status"] == "error" and paged[0]["error"]
        # Exit 3 is not delivered: retried, then left in the outbox when the flush time is up.
        done = run_scoot(home, "schedule", "trigger", "good", timeout=60)
        assert done.returncode == 0
        assert "not delivered within 3 s" in done.stderr
        failed = [e for e in audit(home) if e["kind"] == "notify_failed"]
        assert failed and "command exited 3" in failed[0]["error"]
        assert len(list((home / "state" / "outbox").glob("*.json"))) == 1


def test_pings_follow_healthchecks_protocol_in_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = {
        "rules": [{"match": "fail", "steps": [{"status": 500}]}],
        "default": [{"final": "ok"}],
    }
    with ScriptedModel(script) as model, Receiver() as receiver:
        _config(
            home,
            model,
            receiver,
            [
                {
                    "id": "up",
                    "goal": "work",
                    "every_sec": 60,
                    "ping_url": f"{receiver.url}/ping/abc",
                },
                {
                    "id": "down",
                    "goal": "fail",
                    "every_sec": 60,
                    "ping_url": f"{receiver.url}/ping/def/",
                },
            ],
        )
        for job in ("up", "up", "down"):
            run_scoot(home, "schedule", "trigger", job, timeout=60)
        ids = [r["run_id"] for r in runs(home)]
        paths = [g.path for g in receiver.gets()]
        assert paths == [
            f"/ping/abc/start?rid={ids[0]}",
            f"/ping/abc?rid={ids[0]}",
            f"/ping/abc/start?rid={ids[1]}",
            f"/ping/abc?rid={ids[1]}",
            f"/ping/def/start?rid={ids[2]}",
            f"/ping/def/fail?rid={ids[2]}",
        ]


def test_every_event_kind(tmp_path: Path) -> None:
    home = tmp_path / "home"
    every = ["failure", "recovery", "success", "change", "start", "missed", "paused"]
    # The first attempt of the model fails (a failure), the next ones answer.
    script = {"default": [{"final": "same answer", "status": 500, "fail_times": 1}]}
    with ScriptedModel(script) as model, Receiver() as receiver:
        job = {"id": "j", "goal": "g", "every_sec": 60, "notify": ["ops"], "notify_on": every}
        _config(home, model, receiver, [job])
        assert run_scoot(home, "schedule", "trigger", "j").returncode == 1
        # Notifications of one run go out at once, so they may arrive in any order.
        assert sorted(_events(receiver)) == ["failure", "start"]
        assert run_scoot(home, "schedule", "trigger", "j").returncode == 0
        assert sorted(_events(receiver)[2:]) == ["change", "recovery", "start", "success"]
        assert run_scoot(home, "schedule", "trigger", "j").returncode == 0
        assert sorted(_events(receiver)[6:]) == ["start", "success"]  # same answer: no change

    # missed: a 1 s job whose instants pass while no scoot runs.
    home2 = tmp_path / "home2"
    with ScriptedModel({"default": [{"final": "x"}]}) as model, Receiver() as receiver:
        job = {"id": "m", "goal": "g", "every_sec": 1, "notify": ["ops"], "notify_on": ["missed"]}
        _config(home2, model, receiver, [job])
        assert run_scoot(home2, "schedule", "run", "--ticks", "1").returncode == 0
        time.sleep(3.5)
        assert run_scoot(home2, "schedule", "run", "--ticks", "1").returncode == 0
        missed = [r.json for r in receiver.posts()]
        assert missed and missed[0]["event"] == "missed" and missed[0]["job_id"] == "m"
        assert "missed" in missed[0]["error"]

    # paused: pause_after_failures reached.
    home3 = tmp_path / "home3"
    with ScriptedModel({"default": [{"status": 500}]}) as model, Receiver() as receiver:
        job = {
            "id": "p",
            "goal": "g",
            "every_sec": 1,
            "notify": ["ops"],
            "notify_on": ["paused"],
            "pause_after_failures": 1,
        }
        _config(home3, model, receiver, [job])
        run_scoot(home3, "schedule", "run", "--ticks", "2", timeout=60)
        paused = [r.json for r in receiver.posts()]
        assert [p["event"] for p in paused] == ["paused"]
        assert "consecutive failures" in paused[0]["error"]


def test_expect_schema_pass_and_fail(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "schemas").mkdir(parents=True)
    schema = {
        "type": "object",
        "required": ["used_pct"],
        "properties": {"used_pct": {"type": "number"}},
    }
    (home / "schemas" / "disk.json").write_text(json.dumps(schema))
    script = {
        "rules": [{"match": "good", "steps": [{"final": '{"used_pct": 41}'}]}],
        "default": [{"final": '{"used": "lots"}'}],
    }
    with ScriptedModel(script) as model, Receiver() as receiver:
        _config(
            home,
            model,
            receiver,
            [
                {
                    "id": "good",
                    "goal": "good",
                    "every_sec": 60,
                    "expect_schema": "schemas/disk.json",
                },
                {
                    "id": "bad",
                    "goal": "bad",
                    "every_sec": 60,
                    "expect_schema": "schemas/disk.json",
                    "notify": ["ops"],
                },
            ],
        )
        ok = run_scoot(home, "schedule", "trigger", "good")
        assert ok.returncode == 0 and '{"used_pct": 41}' in ok.stdout
        bad = run_scoot(home, "schedule", "trigger", "bad")
        assert bad.returncode == 1
        record = runs(home)[-1]
        assert record["status"] == "invalid_result"
        assert "used_pct" in record["error"] and "expect_schema" in record["error"]
        failure = receiver.posts()[-1].json
        assert failure["event"] == "failure" and failure["status"] == "invalid_result"
        # The model was told the schema in its system prompt.
        system = [
            json.loads(line)
            for line in (home / "state" / "sessions" / "job-good.jsonl").read_text().splitlines()
        ][0]
        assert system["role"] == "system" and '"used_pct"' in system["content"]
        last = run_scoot(home, "schedule", "last", "bad")
        assert (
            last.returncode == 1 and "invalid_result" in last.stdout and "used_pct" in last.stdout
        )
        last_ok = run_scoot(home, "schedule", "last", "good", "--json")
        assert last_ok.returncode == 0
        assert json.loads(last_ok.stdout)["run"]["answer"] == '{"used_pct": 41}'


def test_config_errors_and_inactive_jobs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "x"}]}) as model, Receiver() as receiver:
        _config(
            home,
            model,
            receiver,
            [
                {"id": "lost", "goal": "g", "every_sec": 60, "notify": ["pager"]},
                {
                    "id": "noschema",
                    "goal": "g",
                    "every_sec": 60,
                    "expect_schema": "schemas/none.json",
                },
                {"id": "odd", "goal": "g", "every_sec": 60, "notify_on": ["sometimes"]},
                {"id": "fine", "goal": "g", "every_sec": 60, "notify": ["ops"]},
            ],
        )
        listing = run_scoot(home, "schedule", "list", "--json")
        assert listing.returncode == 0
        report = json.loads(listing.stdout)
        text = json.dumps(report)
        assert "no target 'pager'" in text and "add [notify.pager]" in text
        assert "cannot read" in text and "unknown event 'sometimes'" in text
        assert run_scoot(home, "schedule", "trigger", "lost").returncode == 2
        write_config(home, sections={"notify.ops": {"url": "ftp://x"}})
        broken = run_scoot(home, "schedule", "list")
        assert broken.returncode == 2 and "http:// or https://" in broken.stderr
        assert "Traceback" not in broken.stderr
        write_config(home, sections={"notify.ops": {"url": "http://x", "command": ["y"]}})
        both = run_scoot(home, "notify", "pending")
        assert both.returncode == 2 and "exactly one of url and command" in both.stderr


def test_notify_test_and_schedule_last(tmp_path: Path) -> None:
    home = tmp_path / "home"
    long_answer = "line " * 2000  # longer than runs.jsonl keeps
    with (
        ScriptedModel({"default": [{"final": long_answer}]}) as model,
        Receiver(lambda r: 200 if r.path == "/hook" else 404) as receiver,
    ):
        _config(
            home, model, receiver, [{"id": "j", "goal": "g", "every_sec": 60, "notify": ["ops"]}]
        )
        sent = run_scoot(home, "notify", "test", "ops", OPS_SECRET=SECRET)
        assert (
            sent.returncode == 0 and "delivered to ops" in sent.stdout and "HTTP 200" in sent.stdout
        )
        got = receiver.posts()[-1]
        assert got.json["event"] == "test"
        assert verify_signature(SECRET, got.headers["X-Scoot-Signature"], got.body, time.time())
        unsigned = run_scoot(home, "notify", "test", "ops")
        assert unsigned.returncode == 0 and "OPS_SECRET is not set" in unsigned.stderr
        unknown = run_scoot(home, "notify", "test", "pager")
        assert unknown.returncode == 2 and "no notify target 'pager'" in unknown.stderr
        never = run_scoot(home, "schedule", "last", "j")
        assert never.returncode == 1 and "has not run yet" in never.stdout
        assert run_scoot(home, "schedule", "trigger", "j").returncode == 0
        last = run_scoot(home, "schedule", "last", "j")
        assert last.returncode == 0, last.stderr
        assert "job j: ok" in last.stdout and long_answer.strip() in last.stdout
        assert "clipped" in runs(home)[-1]["answer"]  # the record clips; `last` does not
        write_config(
            home, base_url=model.base_url, sections={"notify.ops": {"url": f"{receiver.url}/nope"}}
        )
        refused = run_scoot(home, "notify", "test", "ops")
        assert refused.returncode == 1 and "HTTP 404" in refused.stderr


def test_a_hanging_receiver_never_delays_a_due_job(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with (
        ScriptedModel({"default": [{"final": "x"}]}) as model,
        Receiver(lambda _r: ("hang", 60)) as receiver,
    ):
        _config(
            home,
            model,
            receiver,
            [
                {
                    "id": "loud",
                    "goal": "g",
                    "every_sec": 1,
                    "notify": ["ops"],
                    "notify_on": ["start", "success"],
                    "ping_url": f"{receiver.url}/p",
                },
                {"id": "quiet", "goal": "g", "every_sec": 1},
            ],
            target={"url": f"{receiver.url}/hook", "timeout_sec": 30},
        )
        daemon = start_scoot(home, "daemon", "run")
        try:
            wait_for(
                lambda: len([r for r in runs(home) if r["job_id"] == "quiet"]) >= 6, timeout=40
            )
            assert len(receiver.requests) >= 2  # deliveries were under way and hanging
        finally:
            out, err = stop(daemon, timeout=40)
        quiet = [r for r in runs(home) if r["job_id"] == "quiet" and r["status"] == "ok"]
        lateness = [r["started_at"] - r["instant"] for r in quiet]
        # Generous: a loaded 2-core machine; a blocked loop would be late by the 30 s timeout.
        assert len(quiet) >= 6 and max(lateness) < 5, lateness
        assert list((home / "state" / "outbox").glob("*.json"))  # still undelivered, kept


@pytest.mark.parametrize("url", ["ftp://x/y", "http:///nohost", "http://h/p?x=1"])
def test_bad_ping_url_makes_the_job_inactive(tmp_path: Path, url: str) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "j", "goal": "g", "every_sec": 5, "ping_url": url}])
    done = run_scoot(home, "schedule", "list", "--json")
    assert done.returncode == 0
    assert "ping_url" in done.stdout


def test_undelivered_past_max_age_is_abandoned_and_audited(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with (
        ScriptedModel({"default": [{"final": "x"}]}) as model,
        Receiver(lambda _r: 502) as receiver,
    ):
        _config(
            home,
            model,
            receiver,
            [
                {
                    "id": "j",
                    "goal": "g",
                    "every_sec": 60,
                    "notify": ["ops"],
                    "notify_on": ["success"],
                }
            ],
            notify={"max_age_hours": 0.001, "flush_timeout_sec": 30},  # 3.6 s
        )
        started = time.monotonic()
        done = run_scoot(home, "schedule", "trigger", "j", timeout=60)
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - started < 25  # the flush ended with the abandonment
        assert len(receiver.posts()) >= 2  # retried until it was too old
        kinds = [e["kind"] for e in audit(home) if e["kind"].startswith("notify_")]
        assert kinds[-1] == "notify_abandoned" and "notify_sent" not in kinds
        assert "abandoned" in done.stderr
        assert not list((home / "state" / "outbox").glob("*.json"))
        last = json.loads(run_scoot(home, "schedule", "last", "j", "--json").stdout)
        assert [d["state"] for d in last["run"]["deliveries"]] == ["abandoned"]


def test_a_worker_holds_no_descriptor_of_the_courier() -> None:
    """A job could otherwise hand the courier requests: network it was not given."""
    from scoot.notify.courier import Courier
    from scoot.supervise.launch import launch_worker
    from tests.run_specs import run_spec

    courier = Courier()
    courier.start()
    try:
        fds = [courier._requests_w, courier.results_fd]
        assert all(fd is not None for fd in fds)

        def body(_spec_fd: int, _frame_fd: int, _parent: int) -> int:
            for fd in fds:
                try:
                    os.fstat(fd)  # type: ignore[arg-type]
                except OSError:
                    continue
                return 1  # still open in the worker
            return 0

        worker = launch_worker(run_spec(run_id="r-fd"), body)
        _, status = os.waitpid(worker.pid, 0)
        os.close(worker.frame_fd)
        os.close(worker.output_fd)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        courier.stop()
    assert courier.pid is None


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_certificates_are_verified(tmp_path: Path) -> None:
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key)]
        + ["-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with Receiver() as receiver:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
        home = tmp_path / "home"
        port = receiver.server.server_address[1]
        write_config(home, sections={"notify.ops": {"url": f"https://127.0.0.1:{port}/hook"}})
        done = run_scoot(home, "notify", "test", "ops")
        assert done.returncode == 1
        assert "CERTIFICATE_VERIFY_FAILED" in done.stderr, done.stderr
        assert receiver.posts() == []  # nothing was sent over the unverified connection


def test_a_run_cut_short_by_kill_9_is_notified_after_recovery(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = {"rules": [{"match": "slow", "steps": [{"hang": True}]}], "default": [{"final": "x"}]}
    with ScriptedModel(script) as model, Receiver() as receiver:
        _config(
            home,
            model,
            receiver,
            [
                {
                    "id": "slow",
                    "goal": "slow",
                    "every_sec": 3600,
                    "notify": ["ops"],
                    "ping_url": f"{receiver.url}/ping/s",
                }
            ],
        )
        daemon = start_scoot(home, "daemon", "run")
        try:
            wait_for(lambda: any(e["kind"] == "sandbox" for e in audit(home)), timeout=30)
            wait_for(lambda: receiver.gets(), timeout=30)  # the start ping
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=10)
        finally:
            stop(daemon)
        again = run_scoot(home, "schedule", "run", "--ticks", "1", timeout=60)
        assert "interrupted by a crash" in again.stderr
        lost = next(r for r in runs(home) if r["status"] == "interrupted")
        failures = [r.json for r in receiver.posts() if r.json["run_id"] == lost["run_id"]]
        assert [f["event"] for f in failures] == ["failure"]
        assert failures[0]["status"] == "interrupted"
        assert f"/ping/s/fail?rid={lost['run_id']}" in [g.path for g in receiver.gets()]


@pytest.mark.parametrize("sync", [True, False])
def test_a_link_planted_at_the_outbox_temp_name_is_never_written_through(
    tmp_path: Path, sync: bool
) -> None:
    target = tmp_path / "outbox.json"
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    planted = tmp_path / f".outbox.json.{os.getpid()}.tmp"
    planted.symlink_to(victim)
    replace_file(target, b"[]\n", sync=sync)
    assert victim.read_bytes() == b"untouched"
    assert target.read_bytes() == b"[]\n" and not target.is_symlink()
    assert not planted.exists() and not planted.is_symlink()
