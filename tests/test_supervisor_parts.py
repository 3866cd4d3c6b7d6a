"""The supervisor's parts with real processes: the one reaper, strays, frozen requests, run events.

Tests that reap or become a subreaper do it in a forked child of the test
process, so the children of pytest itself are never collected by them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scoot.instance.open import open_instance
from scoot.supervise.events import RunEnded, RunEvent, RunLaunched, RunStarting
from scoot.supervise.reaper import reap_children
from scoot.supervise.requests import RequestMaker, retry_of
from scoot.supervise.supervisor import Supervisor
from tests.helpers import read_jsonl, supervise, write_config


def in_child(check: Callable[[], dict[str, Any]], timeout: float = 30) -> dict[str, Any]:
    """Run `check` in a forked child and return what it found (JSON over a pipe)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            found = check()
        except BaseException as exc:  # reported to the parent, which fails the test
            found = {"error": repr(exc)}
        os.write(write_end, json.dumps(found).encode())
        os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    data = b""
    while chunk := os.read(read_end, 65536):
        data += chunk
    os.close(read_end)
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        assert time.monotonic() < deadline, "the checking child did not exit"
        time.sleep(0.01)
    found = json.loads(data)
    assert "error" not in found, found["error"]
    return found


def is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] == "Z"
    except OSError:
        return False


def zombie_children() -> list[int]:
    """This process's children that ended and were never reaped."""
    me = os.getpid()
    found = []
    for task in os.listdir(f"/proc/{me}/task"):
        with open(f"/proc/{me}/task/{task}/children") as handle:
            found += [int(pid) for pid in handle.read().split() if is_zombie(int(pid))]
    return found


def test_the_reaper_collects_every_ended_child_in_one_pass() -> None:
    def check() -> dict[str, Any]:
        codes = {}
        for code in (10, 11, 12, 13, 14):
            pid = os.fork()
            if pid == 0:
                os._exit(code)
            codes[str(pid)] = code
        deadline = time.monotonic() + 20
        while not all(is_zombie(int(pid)) for pid in codes) and time.monotonic() < deadline:
            time.sleep(0.01)
        reaped, children_left = reap_children()
        again, left_after = reap_children()
        return {
            "codes": codes,
            "reaped": {str(r.pid): os.waitstatus_to_exitcode(r.wait_status) for r in reaped},
            "children_left": children_left,
            "again": len(again),
            "left_after": left_after,
            "zombies": zombie_children(),
        }

    found = in_child(check)
    # Five exits, one call: a SIGCHLD that coalesced the others loses none of them.
    assert found["reaped"] == found["codes"]
    assert found["children_left"] is False and found["left_after"] is False
    assert found["again"] == 0
    assert found["zombies"] == []


def test_the_reaper_leaves_a_live_child_alone() -> None:
    def check() -> dict[str, Any]:
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        reaped, children_left = reap_children()
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return {"reaped": [r.pid for r in reaped], "children_left": children_left}

    assert in_child(check) == {"reaped": [], "children_left": True}


def escaping_body(spec_fd: int, frame_fd: int, parent_pid: int) -> int:
    """A worker that leaves a process behind in a session of its own, then answers."""
    os.set_blocking(frame_fd, True)
    spec = json.loads(os.read(spec_fd, 1 << 20))
    child = os.fork()
    if child == 0:
        os.setsid()  # out of the run's process group: only the orphan sweep can find it
        time.sleep(30)
        os._exit(0)
    Path(spec["cwd"], "escaped.pid").write_text(str(child))
    frames = [
        {"type": "hello", "pid": os.getpid(), "run_id": spec["run_id"], "job_id": spec["job_id"]},
        {"type": "result", "status": "ok", "answer": "left one", "error": None},
    ]
    frames[0].update(mode=spec["mode"], sandbox={"summary": "test body"})
    os.write(frame_fd, "".join(json.dumps(f) + "\n" for f in frames).encode())
    return 0


def test_an_escaped_process_is_killed_and_reaped_not_left_a_zombie(tmp_path: Path) -> None:
    home = tmp_path / "home"

    def check() -> dict[str, Any]:
        supervisor, _ = supervise(home, escaping_body, ["escape"], reap_orphans=True)
        request, outcome = supervisor.summary.outcomes[-1]
        escaped = int(Path(request.cwd, "escaped.pid").read_text())
        try:
            os.kill(escaped, 0)
            gone = False
        except ProcessLookupError:
            gone = True
        return {"status": outcome.status, "gone": gone, "zombies": zombie_children()}

    found = in_child(check)
    assert found == {"status": "ok", "gone": True, "zombies": []}
    killed = [
        r for r in read_jsonl(home / "logs" / "audit.jsonl") if r["kind"] == "stragglers_killed"
    ]
    assert len(killed) == 1 and "escaped its run's process group" in killed[0]["msg"]


def maker_for(home: Path, jobs: list[dict[str, Any]]) -> tuple[RequestMaker, dict[str, Any]]:
    write_config(home, jobs=jobs, sections={"sandbox": {"nofile": 64}})
    instance = open_instance(str(home))
    maker = RequestMaker(instance.home, instance.config, "/somewhere", job_timeout_sec=77)
    return maker, instance.jobset.by_id()


def test_a_request_is_resolved_when_it_is_made_and_never_changes(tmp_path: Path) -> None:
    jobs = [
        {"id": "own", "goal": "g", "every_sec": 60, "nofile": 8, "timeout_sec": 30},
        {"id": "plain", "goal": "g", "every_sec": 60, "cwd": str(tmp_path)},
    ]
    maker, by_id = maker_for(tmp_path / "home", jobs)
    own = maker.for_job(by_id["own"], origin="trigger", now=1000.0)
    plain = maker.for_job(by_id["plain"], origin="schedule", now=1000.0, instant=990.0)
    # A job without cwd runs in its own workspace; its limits overlay [sandbox]'s.
    assert own.cwd == str(tmp_path / "home" / "work" / "own") and own.own_workspace
    assert own.limits["nofile"] == 8 and plain.limits["nofile"] == 64
    assert (own.timeout_sec, plain.timeout_sec) == (30.0, 77.0)
    assert plain.cwd == str(tmp_path) and not plain.own_workspace
    assert own.queued_at == 1000.0 and own.backend == "default"
    with pytest.raises(dataclasses.FrozenInstanceError):
        own.timeout_sec = 1  # type: ignore[misc]
    again = retry_of(plain, attempt=2, start_at=1010.0, now=1005.0)
    assert again.run_id != plain.run_id and again.attempt == 2 and again.not_before == 1010.0
    assert (again.cwd, again.limits, again.instant) == (plain.cwd, plain.limits, plain.instant)
    goal = maker.for_goal("g", mode="readonly", origin="cli", session_id="s", now=1000.0)
    assert (goal.cwd, goal.timeout_sec, goal.own_workspace) == ("/somewhere", None, False)


def ok_body(spec_fd: int, frame_fd: int, parent_pid: int) -> int:
    os.set_blocking(frame_fd, True)
    spec = json.loads(os.read(spec_fd, 1 << 20))
    frames = [
        {"type": "hello", "pid": os.getpid(), "run_id": spec["run_id"], "job_id": spec["job_id"]},
        {"type": "result", "status": "ok", "answer": spec["goal"], "error": None},
    ]
    frames[0].update(mode=spec["mode"], sandbox={"summary": "test body"})
    os.write(frame_fd, "".join(json.dumps(f) + "\n" for f in frames).encode())
    return 0


def test_a_new_subscriber_hears_each_run_start_to_end_with_its_record(tmp_path: Path) -> None:
    heard: list[RunEvent] = []
    submitted: list[Any] = []

    def subscribe(supervisor: Supervisor) -> None:
        submitted.extend(supervisor.queue)
        supervisor.events.subscribe(heard.append)

    supervisor, _ = supervise(tmp_path / "home", ok_body, ["one", "two"], before_run=subscribe)
    by_run: dict[str, list[str]] = {}
    for event in heard:
        by_run.setdefault(event.request.run_id, []).append(type(event).__name__)
    assert by_run == {
        request.run_id: [RunStarting.__name__, RunLaunched.__name__, RunEnded.__name__]
        for request in submitted
    }
    endings = [event for event in heard if isinstance(event, RunEnded)]
    lines = read_jsonl(tmp_path / "home" / "state" / "runs.jsonl")
    assert sorted(e.record["run_id"] for e in endings if e.record) == sorted(
        line["run_id"] for line in lines
    )
    # The loop ran each request as it was submitted: the very same object, unchanged.
    ran = {id(request) for request, _ in supervisor.summary.outcomes}
    assert ran == {id(request) for request in submitted}


def test_a_freed_slot_goes_to_the_queue_before_the_ended_run_is_recorded(tmp_path: Path) -> None:
    heard: list[tuple[str, str]] = []
    goals = ["first", "second", "third"]

    def subscribe(supervisor: Supervisor) -> None:
        supervisor.events.subscribe(lambda e: heard.append((type(e).__name__, e.request.goal)))

    supervisor, _ = supervise(
        tmp_path / "home", ok_body, goals, max_concurrent=1, before_run=subscribe
    )
    # One slot: each run launches only once the one before it has exited, and
    # before that one's ending is written; every run is still whole and in order.
    assert heard == [
        ("RunStarting", "first"),
        ("RunLaunched", "first"),
        ("RunStarting", "second"),
        ("RunLaunched", "second"),
        ("RunEnded", "first"),
        ("RunStarting", "third"),
        ("RunLaunched", "third"),
        ("RunEnded", "second"),
        ("RunEnded", "third"),
    ]
    lines = read_jsonl(tmp_path / "home" / "state" / "runs.jsonl")
    assert sorted(line["answer"] for line in lines) == sorted(goals)
    assert [outcome.status for _, outcome in supervisor.summary.outcomes] == ["ok"] * 3


def test_a_requests_limits_cannot_be_changed_in_place(tmp_path: Path) -> None:
    maker, by_id = maker_for(tmp_path / "home", [{"id": "j", "goal": "g", "every_sec": 60}])
    request = maker.for_job(by_id["j"], origin="schedule", now=1000.0)
    with pytest.raises(TypeError):
        request.limits["nofile"] = 1  # type: ignore[index]
    assert request.limits["nofile"] == 64
