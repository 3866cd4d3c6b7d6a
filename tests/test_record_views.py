"""The views of what ran: history that is never cut, folded prompts, a readable audit log."""

from __future__ import annotations

import json
from pathlib import Path

from scoot.testing.model_server import ScriptedModel
from tests.helpers import run_scoot, write_config

LONG = (
    "The disks are fine: /, /var and /home are below seventy percent, the largest "
    "directory is /var/log at 2.1 GiB, and nothing grew faster than usual this week."
)
SCRIPT = {
    "default": [
        {"action": "glob", "action_input": "*", "thought": "look around"},
        {"final": LONG},
    ]
}


def recorded(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    with ScriptedModel(SCRIPT) as model:
        write_config(
            home, base_url=model.base_url, jobs=[{"id": "disks", "goal": "g", "every_sec": 3600}]
        )
        assert run_scoot(home, "schedule", "trigger", "disks").returncode == 0
        assert run_scoot(home, "-e", "check the disks").returncode == 0
    return home


def test_history_wraps_detail_to_the_terminal_and_names_the_origin(tmp_path: Path) -> None:
    home = recorded(tmp_path)
    narrow = run_scoot(home, "schedule", "history", COLUMNS="120")
    lines = narrow.stdout.splitlines()
    assert lines[0].split() == [
        "ENDED", "(UTC)", "JOB", "ORIGIN", "STATUS", "TIME", "TOKENS", "IN/OUT", "DETAIL"
    ]  # fmt: skip
    assert all(len(line) <= 120 for line in lines), lines
    # Every word of the answer is there, twice (two runs), none cut with an ellipsis.
    words = " ".join(line[len(lines[0]) - len("DETAIL") :] for line in lines[1:]).split()
    assert words == LONG.split() * 2
    assert "…" not in narrow.stdout
    rows = [line.split() for line in lines if line[:4].isdigit()]
    assert [row[2:5] for row in rows] == [["(-e)", "cli", "ok"], ["disks", "trigger", "ok"]]
    assert "cli-" not in narrow.stdout  # a `-e` run is not shown by its session id
    wide = run_scoot(home, "schedule", "history", COLUMNS="400")
    assert sum(LONG in line for line in wide.stdout.splitlines()) == 2
    raw = json.loads(run_scoot(home, "schedule", "history", "--json").stdout)
    assert [r["answer"] for r in raw["runs"]] == [LONG, LONG]


def test_session_show_folds_the_system_prompt_unless_full(tmp_path: Path) -> None:
    home = recorded(tmp_path)
    short = run_scoot(home, "session", "show", "job-disks")
    full = run_scoot(home, "session", "show", "job-disks", "--full")
    assert short.returncode == full.returncode == 0
    (system,) = [line for line in short.stdout.splitlines() if "] system: " in line]
    assert system.endswith("characters; --full shows it)")
    assert "You are Scoot" not in short.stdout
    assert "You are Scoot" in full.stdout
    assert "user: g" in short.stdout and LONG in short.stdout


def test_audit_show_is_readable_and_json_on_request(tmp_path: Path) -> None:
    home = recorded(tmp_path)
    readable = run_scoot(home, "audit", "show", "job-disks")
    raw = run_scoot(home, "audit", "show", "job-disks", "--json")
    events = [json.loads(line) for line in raw.stdout.splitlines()]
    lines = readable.stdout.splitlines()
    assert len(lines) == len(events) > 3
    for line, event in zip(lines, events, strict=True):
        assert line.startswith("[20") and " UTC] " in line
        assert line.split("] ", 1)[1].split()[:2] == [event["kind"], "job-disks"]
        assert line.endswith(event["msg"].replace("\n", "\\n"))
    assert not any(line.startswith("{") for line in lines)
    everything = run_scoot(home, "audit", "show")
    assert any(" cli-" in line for line in everything.stdout.splitlines())
