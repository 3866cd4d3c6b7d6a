"""Workers started ahead of their instant: set up at once, asking the model only at the go."""

from __future__ import annotations

import math
import os
import select
import time
from pathlib import Path
from typing import Any

import orjson

from scoot.instance.open import open_instance
from scoot.records.audit import AuditLog, Redactor, SessionLog
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.schedule.ledger import Ledger
from scoot.schedule.scheduler import Scheduler
from scoot.supervise.launch import WorkerProcess, launch_worker
from scoot.supervise.supervisor import Hooks, Settings, Supervisor
from scoot.testing.model_server import ScriptedModel
from tests.helpers import audit, runs, write_config
from tests.run_specs import backend_wire, run_spec


def read_frames(
    worker: WorkerProcess, until: str | None, timeout: float = 20
) -> list[dict[str, Any]]:
    """The worker's frames up to the first of type `until` (None: up to end of file)."""
    frames: list[dict[str, Any]] = []
    buffer = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        select.select([worker.frame_fd], [], [], 0.2)
        try:
            chunk = os.read(worker.frame_fd, 65536)
        except BlockingIOError:
            continue
        if not chunk:
            return frames
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        frames.extend(orjson.loads(line) for line in lines)
        if until is not None and any(frame["type"] == until for frame in frames):
            return frames
    raise AssertionError(f"no {until or 'end of file'} within {timeout} s: {frames}")


def reap(worker: WorkerProcess) -> int:
    _, status = os.waitpid(worker.pid, 0)
    os.close(worker.frame_fd)
    os.close(worker.output_fd)
    return os.waitstatus_to_exitcode(status)


def test_a_held_worker_is_set_up_but_asks_the_model_only_at_its_go(tmp_path: Path) -> None:
    with ScriptedModel({"default": [{"final": "on its instant"}]}) as model:
        spec = run_spec(str(tmp_path), str(tmp_path), backend=backend_wire(model.base_url))
        worker = launch_worker(spec, held=True)
        before = read_frames(worker, until="hello")
        time.sleep(0.5)  # room for a request that must not come
        assert model.requests == []
        went = time.time()
        worker.go()
        after = read_frames(worker, until=None)
        requests = model.requests
    assert reap(worker) == 0
    # Set up: its hello, and the run's first audit and session lines; no answer yet.
    assert before[0]["type"] == "hello"
    assert before[0]["run_id"] == "run-1" and before[0]["sandbox"]["mode"] == "readonly"
    assert {f["type"] for f in before} <= {"hello", "audit", "session"}
    assert [f for f in after if f["type"] == "result"][0]["answer"] == "on its instant"
    assert len(requests) == 1 and requests[0].received_at >= went


def test_a_held_worker_whose_set_up_fails_still_waits_for_its_go(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone")
    worker = launch_worker(run_spec(str(tmp_path), missing), held=True)
    time.sleep(0.5)
    assert os.waitpid(worker.pid, os.WNOHANG) == (0, 0)  # not exited: nobody watches it yet
    worker.go()
    frames = read_frames(worker, until=None)
    assert reap(worker) == 1
    assert [f["type"] for f in frames] == ["hello", "result"]
    assert frames[1]["error"].startswith(f"cannot enter working directory {missing}")


def test_a_held_run_called_off_never_runs_its_body(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    def body(_spec_fd: int, _frame_fd: int, _parent: int) -> int:
        marker.write_text("ran")
        return 0

    worker = launch_worker(run_spec(str(tmp_path), str(tmp_path)), body, held=True)
    time.sleep(0.3)
    worker.call_off()
    assert not marker.exists()
    try:
        os.waitpid(worker.pid, os.WNOHANG)
        raise AssertionError("the worker was not reaped")
    except ChildProcessError:
        pass


class Watch(Hooks):
    """Sees the supervisor's held workers at every heartbeat; can stop it once one is held."""

    def __init__(self, stop_when_held: bool) -> None:
        self.stop_when_held = stop_when_held
        self.held_pids: set[int] = set()

    def heartbeat_interval(self) -> float | None:
        return 0.05

    def heartbeat(self, supervisor: Supervisor) -> None:
        pids = {worker.pid for worker in supervisor.runs.held.workers()}
        self.held_pids |= pids
        if pids and self.stop_when_held:
            supervisor.request_stop("SIGTERM")


def schedule_one_shot(
    home: Path, base_url: str, at: float, lead: float, hooks: Hooks, max_concurrent: int = 4
) -> None:
    """`schedule run` of one at_unix job in this process, claiming `lead` seconds ahead."""
    write_config(home, base_url=base_url, jobs=[{"id": "held", "goal": "g", "at_unix": at}])
    instance = open_instance(str(home))
    redactor = Redactor()
    lines: list[str] = []
    recorder = Recorder(
        instance.home,
        AuditLog(instance.home.audit_log, redactor),
        SessionLog(instance.home.sessions, redactor),
        warn=lines.append,
    )
    supervisor = Supervisor(
        home=instance.home,
        config=instance.config,
        token=None,
        recorder=recorder,
        runlog=RunLog(lines.append, lines.append),
        settings=Settings(
            poll_ms=100, claim_lead_sec=lead, shutdown_grace_sec=1, max_concurrent=max_concurrent
        ),
        scheduler=Scheduler(
            instance.jobset.jobs,
            Ledger(instance.home.ledger, instance.home.ledger_lock),
            now=time.time(),
        ),
        hooks=hooks,
    )
    try:
        supervisor.run()
    finally:
        recorder.audit.close()


def test_a_scheduled_run_is_held_ahead_and_starts_on_its_instant(tmp_path: Path) -> None:
    home = tmp_path / "home"
    hooks = Watch(stop_when_held=False)
    with ScriptedModel({"default": [{"final": "done"}]}) as model:
        at = math.ceil(time.time()) + 3
        schedule_one_shot(home, model.base_url, at, 2.0, hooks)
        requests = model.requests
    assert hooks.held_pids  # forked ahead of its instant
    assert len(requests) == 1 and requests[0].received_at >= at
    [record] = runs(home)
    assert record["status"] == "ok"
    [start] = [row for row in audit(home) if row["kind"] == "job_start"]
    assert start["ts"] >= at * 1000  # the run starts on its instant, not when it was forked
    assert [row["kind"] for row in audit(home)].count("job_end") == 1


def test_a_stop_while_held_calls_the_run_off_before_it_asks_anything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    hooks = Watch(stop_when_held=True)
    with ScriptedModel({"default": [{"final": "never"}]}) as model:
        at = math.ceil(time.time()) + 4
        schedule_one_shot(home, model.base_url, at, 3.0, hooks)
        requests = model.requests
    assert requests == []
    [pid] = hooks.held_pids
    try:
        os.kill(pid, 0)
        raise AssertionError(f"held worker {pid} is still there")
    except ProcessLookupError:
        pass
    [record] = runs(home)
    assert record["status"] == "interrupted"
    assert "shutdown" in record["error"]
    assert "job_start" not in [row["kind"] for row in audit(home)]


class SubmitWhenHeld(Watch):
    """Once a run is held, submits a manual run that is due at once."""

    def __init__(self) -> None:
        super().__init__(stop_when_held=False)
        self.submitted: str | None = None

    def heartbeat(self, supervisor: Supervisor) -> None:
        super().heartbeat(supervisor)
        if self.held_pids and self.submitted is None:
            request = supervisor.requests.for_goal(
                "other", mode="guarded", origin="trigger", session_id="manual", now=time.time()
            )
            self.submitted = request.run_id
            supervisor.submit(request)


def test_a_held_run_keeps_its_slot_from_a_run_due_before_its_instant(tmp_path: Path) -> None:
    home = tmp_path / "home"
    hooks = SubmitWhenHeld()
    with ScriptedModel({"default": [{"final": "done"}]}) as model:
        at = math.ceil(time.time()) + 3
        schedule_one_shot(home, model.base_url, at, 2.0, hooks, max_concurrent=1)
        requests = model.requests
    assert hooks.held_pids and hooks.submitted
    starts = [row for row in audit(home) if row["kind"] == "job_start"]
    assert [row["run_id"] for row in starts][1] == hooks.submitted  # the held run went first
    # One slot: the run submitted while the other was held asks the model only after it.
    assert [request.goal for request in requests] == ["g", "other"]
    assert requests[0].received_at >= at
    assert sorted(record["status"] for record in runs(home)) == ["ok", "ok"]
