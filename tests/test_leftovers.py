"""Nothing is left behind: a run's processes end with the run, even those that escape."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil

from scoot.testing.model_server import ScriptedModel
from tests.helpers import read_jsonl, run_scoot, runs, start_scoot, wait_for, write_config

ESCAPE = "setsid -f sleep 77.5 >/dev/null 2>&1 < /dev/null; sleep 0.3"


def sleepers() -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["cmdline"] == ["sleep", "77.5"] and proc.info["status"] != "zombie":
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
            {"thought": "wait", "action": "bash", "action_input": "sleep 77.5"},
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
