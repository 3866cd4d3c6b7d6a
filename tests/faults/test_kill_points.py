"""scoot SIGKILLed right after each of its fsyncs, in recovery and in a run's ending.

`SCOOT_FAULT_KILL_AFTER_FSYNC=N` makes the real binary kill itself after its
Nth fsync, so every durable-write point is hit in turn: N = 1, 2, ... until a
start gets through without dying. After every start, killed or not: each run
that started has at most one ending, each run is either recorded or still in
the ledger's in-flight table (the next start finishes it), and no process of
a recorded run is alive.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections import defaultdict
from pathlib import Path

import psutil
import pytest

from scoot.records.killpoints import KILL_AFTER_FSYNC_ENV
from scoot.testing.model_server import ScriptedModel
from tests.faults.support import ledger_in_flight, tally
from tests.helpers import audit, run_scoot, runs, start_scoot, wait_for, write_config

SCENARIO = "killed after each fsync"
IN_FLIGHT = 8
MAX_POINTS = 200
# Unique to this test process: other test runs on the machine have sleepers of their own.
SLEEP_ARGV = ["sleep", f"77.{os.getpid()}"]


def endings(home: Path) -> dict[str, list[str]]:
    """Every final status each run has, across job_end events and runs.jsonl lines."""
    found: dict[str, list[str]] = defaultdict(list)
    for row in audit(home):
        if row["kind"] == "job_end":
            found[row["run_id"]].append(f"audit:{row['status']}")
    for row in runs(home):
        found[row["run_id"]].append(f"runs:{row['status']}")
    return found


def check_one_ending(home: Path) -> dict[str, list[str]]:
    found = endings(home)
    for run_id, statuses in found.items():
        kinds = [s.split(":")[0] for s in statuses]
        assert kinds.count("audit") <= 1 and kinds.count("runs") <= 1, (run_id, statuses)
        assert len({s.split(":")[1] for s in statuses}) == 1, (run_id, statuses)
    return found


def check_nothing_lost(home: Path) -> set[str]:
    """Every started run is recorded in runs.jsonl or still held in flight; returns recorded."""
    recorded = {row["run_id"] for row in runs(home)}
    held = {flight["run_id"] for flight in ledger_in_flight(home)}
    started = {row["run_id"] for row in audit(home) if row["kind"] == "job_start"}
    lost = started - recorded - held
    tally(SCENARIO).runs_lost += len(lost)
    assert not lost, f"runs with a job_start, no record and no in-flight entry: {lost}"
    return recorded


def sleepers_by_run() -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["cmdline"] != SLEEP_ARGV or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            found[proc.environ().get("SCOOT_RUN_ID", "?")].append(proc.pid)
        except psutil.Error:
            continue
    return found


def kill_sleepers() -> None:
    for pids in sleepers_by_run().values():
        for pid in pids:
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass


def crash_with_runs_in_flight(home: Path, base_url: str) -> None:
    """A daemon killed -9 while IN_FLIGHT runs wait in a tool's `sleep`."""
    script_jobs = [
        {"id": f"slow-{n}", "goal": "g", "at_unix": time.time() - 1, "mode": "unrestricted"}
        for n in range(IN_FLIGHT)
    ]
    write_config(
        home,
        base_url=base_url,
        schedule={"max_concurrent": IN_FLIGHT},
        sections={"tools": {"timeout_ms": 120000}},
        jobs=script_jobs,
    )
    daemon = start_scoot(home, "daemon", "run")
    wait_for(lambda: len(sleepers_by_run()) == IN_FLIGHT, timeout=60)
    daemon.send_signal(signal.SIGKILL)
    daemon.communicate()
    assert len(ledger_in_flight(home)) == IN_FLIGHT


def restart(home: Path, kill_point: int | None) -> int:
    extra = {KILL_AFTER_FSYNC_ENV: str(kill_point)} if kill_point else {}
    again = run_scoot(home, "daemon", "run", "--ticks", "1", timeout=60, **extra)
    assert again.returncode in (0, 1, -signal.SIGKILL), again.stderr
    return again.returncode


def check_after_restart(home: Path, point: int | None) -> None:
    check_one_ending(home)
    recorded = check_nothing_lost(home)
    leftover = {run_id: pids for run_id, pids in sleepers_by_run().items() if run_id in recorded}
    assert not leftover, f"kill point {point}: recorded runs still have {leftover}"


def check_recovered(home: Path) -> None:
    statuses = check_one_ending(home)
    assert ledger_in_flight(home) == []
    assert len(runs(home)) == IN_FLIGHT
    assert all(s[-1] == "runs:interrupted" for s in statuses.values()), statuses
    assert sleepers_by_run() == {}


SCRIPT = {
    "default": [
        {"thought": "wait", "action": "bash", "action_input": " ".join(SLEEP_ARGV)},
        {"final": "waited"},
    ]
}


@pytest.mark.timeout(600)
def test_recovery_killed_again_and_again_loses_no_run_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    """Each restart dies one fsync later than the one before, until one completes."""
    home = tmp_path / "home"
    try:
        with ScriptedModel(SCRIPT) as model:
            crash_with_runs_in_flight(home, model.base_url)
            for point in range(1, MAX_POINTS + 1):
                code = restart(home, point)
                check_after_restart(home, point)
                tally(SCENARIO).faults_survived += 1
                if code != -signal.SIGKILL:
                    break
            else:
                pytest.fail(f"recovery still died after {MAX_POINTS} fsyncs")
    finally:
        kill_sleepers()
    tally(SCENARIO).trials += 1
    check_recovered(home)


@pytest.mark.timeout(600)
def test_recovery_killed_at_each_of_its_fsyncs_then_restarted_completes(
    tmp_path: Path,
) -> None:
    """The same crashed state, recovered with a kill at point 1, 2, ... K, then restarted."""
    crashed = tmp_path / "crashed"
    try:
        with ScriptedModel(SCRIPT) as model:
            crash_with_runs_in_flight(crashed, model.base_url)
            for point in range(1, MAX_POINTS + 1):
                home = tmp_path / f"home-{point}"
                shutil.copytree(crashed, home, ignore=shutil.ignore_patterns("*.lock"))
                code = restart(home, point)
                check_after_restart(home, point)
                if code != -signal.SIGKILL:
                    points = point - 1
                    break
                assert restart(home, None) != -signal.SIGKILL
                check_after_restart(home, None)
                check_recovered(home)
                tally(SCENARIO).faults_survived += 1
            else:
                pytest.fail(f"recovery still died after {MAX_POINTS} fsyncs")
    finally:
        kill_sleepers()
    tally(SCENARIO).trials += 1
    print(f"\n[faults] recovery of {IN_FLIGHT} runs killed at each of its {points} fsyncs")
    # daemon.pid and daemon.json (two each: file and directory), the group commit of the
    # endings (runs.jsonl, then the audit log), the ledger's commit.
    assert points >= 4 + 2 + 1, f"only {points} kill points"


@pytest.mark.timeout(300)
def test_a_run_killed_at_every_fsync_of_its_ending_ends_once(tmp_path: Path) -> None:
    script = {"default": [{"final": "the answer"}]}
    template = tmp_path / "template"
    with ScriptedModel(script) as model:
        write_config(
            template,
            base_url=model.base_url,
            jobs=[{"id": "once", "goal": "g", "at_unix": time.time() - 1}],
        )
        completed_at = None
        for point in range(1, 40):
            home = tmp_path / f"home-{point}"
            shutil.copytree(template, home)
            first = run_scoot(
                home, "schedule", "run", "--ticks", "1", **{KILL_AFTER_FSYNC_ENV: str(point)}
            )
            if first.returncode != -signal.SIGKILL:
                assert first.returncode == 0, first.stderr
                completed_at = point
                break
            # The next start recovers whatever the kill left.
            second = run_scoot(home, "schedule", "run", "--ticks", "1")
            assert second.returncode in (0, 1), second.stderr
            found = check_one_ending(home)
            check_nothing_lost(home)
            assert ledger_in_flight(home) == []
            for row in runs(home):
                if row["status"] == "ok":
                    assert row["answer"] == "the answer"
            started = {row["run_id"] for row in audit(home) if row["kind"] == "job_start"}
            assert started <= set(found), (point, found)
            tally(SCENARIO).faults_survived += 1
    assert completed_at is not None and completed_at > 3
    print(
        f"\n[faults] a run's claim, ending and release killed at each of {completed_at - 1} fsyncs"
    )
    tally(SCENARIO).trials += 1
