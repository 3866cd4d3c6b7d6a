"""Run control with real forked workers that misbehave on purpose.

The supervisor runs in this process; each worker is a real child running a
body chosen by its goal, talking over the real pipes.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from scoot.shared.fdio import write_all
from scoot.supervise.supervisor import Supervisor
from tests.helpers import read_jsonl, supervise

MARKER = "RAW-BYTES-MUST-NOT-BE-LOGGED"


def _read_spec(fd: int) -> dict:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return json.loads(data)


def _send(fd: int, frame: dict | bytes) -> None:
    data = frame if isinstance(frame, bytes) else (json.dumps(frame) + "\n").encode()
    write_all(fd, data)


def _hello(spec: dict) -> dict:
    return {
        "type": "hello",
        "pid": os.getpid(),
        "run_id": spec["run_id"],
        "job_id": spec["job_id"],
        "mode": spec["mode"],
        "sandbox": {"summary": "test body"},
    }


def body(spec_fd: int, frame_fd: int, parent_pid: int) -> int:
    """A worker whose behaviour is named by its goal."""
    os.set_blocking(frame_fd, True)
    spec = _read_spec(spec_fd)
    goal = spec["goal"]
    _send(frame_fd, _hello(spec))
    if goal == "ok":
        _send(frame_fd, {"type": "session", "role": "assistant", "content": "hi"})
        _send(frame_fd, {"type": "result", "status": "ok", "answer": "fine", "error": None})
    elif goal == "garbage":
        _send(frame_fd, f"{MARKER} not json\n".encode())
        _send(frame_fd, json.dumps({"type": "surprise", "x": MARKER}).encode() + b"\n")
        _send(
            frame_fd,
            json.dumps({"type": "audit", "kind": "job_end", "msg": MARKER}).encode() + b"\n",
        )
        _send(frame_fd, b"\xff\xfe" + MARKER.encode() + b"\n")
        _send(frame_fd, {"type": "result", "status": "ok", "answer": "survived", "error": None})
    elif goal == "oversized":
        _send(
            frame_fd,
            b'{"type":"audit","kind":"thought","msg":"' + b"x" * (100 * 1024 * 1024) + b'"}\n',
        )
        _send(frame_fd, {"type": "result", "status": "ok", "answer": "after big", "error": None})
    elif goal == "partial":
        _send(frame_fd, b'{"type":"result","status":"ok","ans')
        return 0
    elif goal == "no-result":
        return 3
    elif goal == "self-kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif goal == "flood":
        chunk = b"y" * (1024 * 1024)
        for _ in range(300):
            os.write(1, chunk)
        _send(frame_fd, {"type": "result", "status": "ok", "answer": "flooded", "error": None})
    elif goal == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(60)
    elif goal == "grandchild":
        if os.fork() == 0:  # a busy grandchild in the run's process group
            while True:
                pass
        _send(frame_fd, {"type": "result", "status": "ok", "answer": "left one", "error": None})
    return 0


def run_bodies(tmp_path: Path, goals: list[str], **settings: object) -> tuple[Supervisor, Path]:
    home = tmp_path / "home"
    supervisor, _ = supervise(home, body, goals, timeout_sec=3, **settings)
    return supervisor, home


def statuses(supervisor: Supervisor) -> dict[str, str]:
    return {request.goal: outcome.status for request, outcome in supervisor.summary.outcomes}


def audit(home: Path) -> list[dict]:
    return read_jsonl(home / "logs" / "audit.jsonl")  # asserts every line parses


def test_malformed_unknown_and_foreign_frames_become_protocol_errors(tmp_path: Path) -> None:
    supervisor, home = run_bodies(tmp_path, ["garbage"])
    assert statuses(supervisor) == {"garbage": "ok"}
    errors = [r for r in audit(home) if r["kind"] == "protocol_error"]
    assert len(errors) == 4
    raw = (home / "logs" / "audit.jsonl").read_text()
    assert MARKER not in raw


def test_oversized_frame_is_refused_without_buffering_it(tmp_path: Path) -> None:
    before = psutil.Process().memory_info().rss
    supervisor, home = run_bodies(tmp_path, ["oversized"])
    grown = psutil.Process().memory_info().rss - before
    assert statuses(supervisor) == {"oversized": "ok"}
    errors = [r for r in audit(home) if r["kind"] == "protocol_error"]
    assert len(errors) == 1 and "exceeds" in errors[0]["msg"]
    assert grown < 32 * 1024 * 1024


@pytest.mark.parametrize(
    ("goal", "status", "detail"),
    [
        ("no-result", "crashed", "exit code 3"),
        ("self-kill", "crashed", "signal SIGKILL"),
        ("partial", "crashed", "exit code 0"),
    ],
)
def test_worker_without_result_is_crashed(
    tmp_path: Path, goal: str, status: str, detail: str
) -> None:
    supervisor, home = run_bodies(tmp_path, [goal])
    ((_, outcome),) = supervisor.summary.outcomes
    assert outcome.status == status and detail in (outcome.error or "")
    (row,) = read_jsonl(home / "state" / "runs.jsonl")
    assert row["status"] == status
    if goal == "partial":
        assert any(
            "partial frame" in r["msg"] for r in audit(home) if r["kind"] == "protocol_error"
        )


def test_output_flood_is_drained_and_bounded(tmp_path: Path) -> None:
    before = psutil.Process().memory_info().rss
    supervisor, home = run_bodies(tmp_path, ["flood"])
    grown = psutil.Process().memory_info().rss - before
    assert statuses(supervisor) == {"flood": "ok"}
    assert grown < 32 * 1024 * 1024
    end = [r for r in audit(home) if r["kind"] == "job_end"][0]
    assert end["status"] == "ok"


def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    started = time.monotonic()
    supervisor, home = run_bodies(tmp_path, ["ignore-term"])
    took = time.monotonic() - started
    ((_, outcome),) = supervisor.summary.outcomes
    assert outcome.status == "timeout" and outcome.signal == "SIGKILL"
    assert 3 <= took < 30
    assert [r["kind"] for r in audit(home)].count("job_timeout") == 1


def test_processes_left_in_the_group_are_killed_and_audited(tmp_path: Path) -> None:
    supervisor, home = run_bodies(tmp_path, ["grandchild"])
    ((_, outcome),) = supervisor.summary.outcomes
    assert outcome.status == "ok"
    records = audit(home)
    killed = [r for r in records if r["kind"] == "stragglers_killed"]
    assert killed and killed[0]["count"] == 1
    (hello,) = [r for r in records if r["kind"] == "sandbox"]
    group = hello["pid"]  # the worker leads its own process group
    time.sleep(0.1)
    leftovers = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == group and proc.status() != psutil.STATUS_ZOMBIE:
                leftovers.append(proc.pid)
        except (OSError, psutil.Error):
            continue
    assert leftovers == []


def test_runs_in_parallel_do_not_mix_and_every_line_parses(tmp_path: Path) -> None:
    goals = ["ok", "garbage", "no-result", "ok", "flood", "self-kill"]
    supervisor, home = run_bodies(tmp_path, goals, max_concurrent=3)
    assert len(supervisor.summary.outcomes) == len(goals)
    rows = read_jsonl(home / "state" / "runs.jsonl")
    assert len({r["run_id"] for r in rows}) == len(goals)
    for path in (home / "state" / "sessions").iterdir():
        read_jsonl(path)
    ends = [r for r in audit(home) if r["kind"] == "job_end"]
    assert len(ends) == len(goals)
