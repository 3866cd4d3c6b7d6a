"""A one-shot tick leaves without the interpreter's teardown: nothing of its output or
records is lost, and its exit code is the one it always had."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scoot.testing.model_server import ScriptedModel
from tests.helpers import audit, clean_env, runs, write_config


def tick(home: Path, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["scoot", "schedule", "run", "--ticks", "1"],
        env=clean_env(home),
        cwd=home,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )


def test_a_tick_keeps_its_output_records_and_exit_codes(tmp_path: Path) -> None:
    script = {"rules": [{"match": "^bad$", "steps": [{"status": 500}]}]}
    script["default"] = [{"final": "fine"}]
    with ScriptedModel(script) as model:
        good = tmp_path / "good"
        write_config(
            good, base_url=model.base_url, jobs=[{"id": "ok", "goal": "g", "every_sec": 60}]
        )
        done = tick(good)
        assert done.returncode == 0, done.stderr
        # The last line, printed as the loop ends, reaches a pipe whole.
        assert done.stdout.splitlines()[-1] == "[scoot] job ok OK: fine", done.stdout
        assert [r["status"] for r in runs(good)] == ["ok"]
        kinds = [row["kind"] for row in audit(good)]
        assert kinds.count("job_start") == kinds.count("job_end") == 1

        bad = tmp_path / "bad"
        jobs = [{"id": "fails", "goal": "bad", "every_sec": 60}, {"id": "typo", "goal": "g"}]
        write_config(bad, base_url=model.base_url, jobs=jobs)
        out_file = tmp_path / "out.txt"
        with open(out_file, "w") as out:  # a file: block-buffered, flushed at the exit
            done = tick(bad, stdout=out.fileno())
        assert done.returncode == 1, done.stderr
        assert done.stderr.rstrip().splitlines()[-1].startswith("[scoot] failing: 1 invalid job")
        assert "[scoot] schedule run started" in out_file.read_text()
        assert [r["status"] for r in runs(bad)] != ["ok"] and len(runs(bad)) == 1
