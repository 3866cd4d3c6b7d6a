"""A job without `cwd` runs in its own workspace, never in the directory scoot started in."""

from __future__ import annotations

import stat
from pathlib import Path

from scoot.testing.model_server import ScriptedModel
from tests.helpers import read_jsonl, run_scoot, write_config

PWD_SCRIPT = {
    "default": [
        {"action": "bash", "action_input": "pwd"},
        {"final": "done"},
    ]
}


def observations(home: Path, job_id: str) -> list[str]:
    rows = read_jsonl(home / "state" / "sessions" / f"job-{job_id}.jsonl")
    return [row["content"] for row in rows if row["role"] == "observation"]


def test_scheduled_and_triggered_jobs_without_cwd_run_in_their_workspace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    started_in = tmp_path / "elsewhere"
    started_in.mkdir()
    with ScriptedModel(PWD_SCRIPT) as model:
        write_config(
            home,
            base_url=model.base_url,
            jobs=[
                {"id": "tick", "goal": "where am i", "every_sec": 300, "mode": "unrestricted"},
                {"id": "manual", "goal": "where", "cron": "0 0 1 1 *", "mode": "unrestricted"},
            ],
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1", cwd=started_in)
        assert done.returncode == 0, done.stderr
        trig = run_scoot(home, "schedule", "trigger", "manual", cwd=started_in)
        assert trig.returncode == 0, trig.stderr
    for job_id in ("tick", "manual"):
        workspace = (home / "work" / job_id).resolve()
        assert stat.S_IMODE(workspace.stat().st_mode) == 0o700
        seen = "\n".join(observations(home, job_id))
        assert str(workspace) in seen, seen
        assert str(started_in) not in seen
    assert stat.S_IMODE((home / "work").stat().st_mode) == 0o700


def test_a_job_with_cwd_keeps_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    project = tmp_path / "project"
    project.mkdir()
    with ScriptedModel(PWD_SCRIPT) as model:
        write_config(
            home,
            base_url=model.base_url,
            jobs=[
                {
                    "id": "p",
                    "goal": "where",
                    "every_sec": 300,
                    "mode": "unrestricted",
                    "cwd": str(project),
                }
            ],
        )
        done = run_scoot(home, "schedule", "run", "--ticks", "1")
        assert done.returncode == 0, done.stderr
    assert str(project.resolve()) in "\n".join(observations(home, "p"))
    assert not (home / "work" / "p").exists()
