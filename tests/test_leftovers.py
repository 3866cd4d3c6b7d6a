"""Nothing is left behind: a run's processes end with the run, even those that escape."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import psutil

from scoot.testing.model_server import ScriptedModel
from tests import unprivileged
from tests.helpers import (
    read_jsonl,
    run_scoot,
    runs,
    scoot_cmd,
    start_scoot,
    wait_for,
    write_config,
)

# Sleep lengths unique to this test process, so other test runs on the machine never count.
SLEEP = f"77.{os.getpid()}"
ESCAPE = f"setsid -f sleep {SLEEP} >/dev/null 2>&1 < /dev/null; sleep 0.3"


def sleepers() -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["cmdline"] == ["sleep", SLEEP] and proc.info["status"] != "zombie":
            found.append(proc.pid)
    return found


def test_descendant_that_leaves_the_group_is_found_and_killed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = {
        "default": [
            {"thought": "detach", "action": "bash", "action_input": ESCAPE},
            {"final": "detached"},
        ]
    }
    with ScriptedModel(script) as model:
        write_config(
            home,
            base_url=model.base_url,
            jobs=[{"id": "esc", "goal": "g", "every_sec": 3600, "mode": "unrestricted"}],
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert runs(home)[0]["answer"] == "detached"
    time.sleep(0.2)
    assert sleepers() == []
    events = read_jsonl(home / "logs" / "audit.jsonl")
    assert any(e["kind"] == "stragglers_killed" for e in events), json.dumps(events)[-2000:]


def test_what_a_crashed_daemons_run_left_behind_is_killed_at_the_next_start(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    script = {
        "default": [
            {"thought": "wait", "action": "bash", "action_input": f"sleep {SLEEP}"},
            {"final": "waited"},
        ]
    }
    with ScriptedModel(script) as model:
        write_config(
            home,
            base_url=model.base_url,
            sections={"tools": {"timeout_ms": 60000}},
            jobs=[{"id": "slow", "goal": "g", "at_unix": time.time() - 1, "mode": "unrestricted"}],
        )
        daemon = start_scoot(home, "daemon", "run")
        wait_for(sleepers, timeout=15)
        daemon.kill()  # kill -9: no chance to stop its runs
        daemon.communicate()
        time.sleep(0.3)
        assert sleepers(), "the tool's own process outlives its worker"
        again = run_scoot(home, "daemon", "run", "--ticks", "1")
    assert again.returncode in (0, 1), again.stderr
    assert "left behind by interrupted run" in again.stderr
    wait_for(lambda: not sleepers(), timeout=5)
    events = read_jsonl(home / "logs" / "audit.jsonl")
    killed = [e for e in events if e["kind"] == "stragglers_killed"]
    assert killed and killed[0]["run_id"] == runs(home)[0]["run_id"]
    assert runs(home)[0]["status"] == "interrupted"


NESTED = ["sleep", f"78.{os.getpid()}"]
NESTED_SCRIPT = {
    "default": [
        {"thought": "wait", "action": "bash", "action_input": f"{' '.join(NESTED)}; true"},
        {"final": "waited"},
    ]
}


def nested_sleepers() -> list[int]:
    return [
        proc.pid
        for proc in psutil.process_iter(["cmdline", "status"])
        if proc.info["cmdline"] == NESTED and proc.info["status"] != "zombie"
    ]


def _kill_nested() -> None:
    for pid in nested_sleepers():
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass


def test_no_process_of_a_timed_out_run_survives_its_ending(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        with ScriptedModel(NESTED_SCRIPT) as model:
            write_config(
                home,
                base_url=model.base_url,
                sections={"tools": {"timeout_ms": 60000}},
                jobs=[
                    {
                        "id": "late",
                        "goal": "g",
                        "every_sec": 3600,
                        "timeout_sec": 2,
                        "mode": "unrestricted",
                    }
                ],
            )
            done = run_scoot(home, "schedule", "run", "--ticks", "1", timeout=60)
        assert done.returncode == 1, done.stdout + done.stderr
        assert runs(home)[0]["status"] == "timeout"
        # The run has ended: nothing of it may be left, not even a moment later.
        assert nested_sleepers() == []
        killed = [
            e for e in read_jsonl(home / "logs" / "audit.jsonl") if e["kind"] == "stragglers_killed"
        ]
        assert any("sleep" in e.get("names", []) for e in killed), killed
        assert all(e["run_id"] == runs(home)[0]["run_id"] for e in killed)
    finally:
        _kill_nested()


def test_no_process_of_a_run_survives_a_clean_daemon_stop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        with ScriptedModel(NESTED_SCRIPT) as model:
            write_config(
                home,
                base_url=model.base_url,
                sections={"tools": {"timeout_ms": 60000}},
                jobs=[{"id": "slow", "goal": "g", "every_sec": 3600, "mode": "unrestricted"}],
            )
            daemon = start_scoot(home, "daemon", "run")
            wait_for(nested_sleepers, timeout=30)
            stopped = run_scoot(home, "daemon", "stop", "--wait", timeout=60)
            assert stopped.returncode == 0, stopped.stderr
            daemon.communicate(timeout=30)
        assert runs(home)[0]["status"] == "interrupted"
        assert nested_sleepers() == []
    finally:
        _kill_nested()


def test_an_unprivileged_daemon_also_leaves_nothing_of_a_timed_out_run(tmp_path: Path) -> None:
    """No root needed: a subreaper of one's own, and one's own processes' environments."""
    user = unprivileged.require_user()
    work = unprivileged.owned_dir(user)
    home = work / "home"
    try:
        with ScriptedModel(NESTED_SCRIPT) as model:
            write_config(
                home,
                base_url=model.base_url,
                sections={"tools": {"timeout_ms": 60000}},
                jobs=[
                    {
                        "id": "late",
                        "goal": "g",
                        "every_sec": 3600,
                        "timeout_sec": 2,
                        "mode": "unrestricted",
                    }
                ],
            )
            unprivileged.chown_tree(work, user)
            done = unprivileged.run_as(
                user,
                scoot_cmd("schedule", "run", "--ticks", "1"),
                env=unprivileged.env_for(user, home),
                cwd=work,
                timeout=60,
            )
        assert done.returncode == 1, done.stdout + done.stderr
        assert (home / "state" / "runs.jsonl").stat().st_uid == user.uid  # it ran as the user
        assert runs(home)[0]["status"] == "timeout"
        assert nested_sleepers() == []
        killed = [
            e for e in read_jsonl(home / "logs" / "audit.jsonl") if e["kind"] == "stragglers_killed"
        ]
        assert any("sleep" in e.get("names", []) for e in killed), killed
    finally:
        _kill_nested()
        shutil.rmtree(work, ignore_errors=True)
