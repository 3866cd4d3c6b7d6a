"""Operator-facing messages: problems found early and said once, in words a person reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_scoot, write_config


def only_line(err: str) -> str:
    assert "Traceback" not in err and "internal error" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_a_job_whose_cwd_is_missing_is_inactive_with_the_reason(tmp_path: Path) -> None:
    home = tmp_path / "home"
    there = tmp_path / "there"
    there.mkdir()
    write_config(
        home,
        jobs=[
            {"id": "lost", "goal": "g", "every_sec": 60, "cwd": str(tmp_path / "gone")},
            {"id": "found", "goal": "g", "every_sec": 60, "cwd": str(there)},
        ],
    )
    done = run_scoot(home, "schedule", "list", "--json")
    assert done.returncode == 0, done.stderr
    assert "'lost' skipped: cwd" in done.stderr and "is not a directory" in done.stderr
    shown = run_scoot(home, "schedule", "list")
    lost = shown.stdout.split("INACTIVE lost", 1)[1]
    assert "is not a directory: create it or fix the path" in lost.splitlines()[1]
    assert "ACTIVE   found" in shown.stdout


def test_an_unknown_job_key_lists_the_known_ones(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "a", "goal": "g", "every_sec": 60, "timeout": 5}])
    done = run_scoot(home, "schedule", "list")
    line = next(x for x in done.stderr.splitlines() if "unknown key 'timeout'" in x)
    assert "(known: " in line and "timeout_sec" in line and "every_sec" in line


def test_a_bad_variable_names_itself_and_the_type_it_needs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    done = run_scoot(home, "config", SCOOT_SCHEDULE_POLL_MS="fast")
    assert done.returncode == 0
    line = next(x for x in done.stderr.splitlines() if "SCOOT_SCHEDULE_POLL_MS" in x)
    assert "'fast' ignored: [schedule] poll_ms expects a whole number" in line
    assert "int()" not in line and "literal" not in line
    assert "poll_ms = 100" in done.stdout  # the file's value stays


def test_a_cron_typo_quotes_the_expression_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "typo", "goal": "g", "cron": "*/5 * * *"}])
    done = run_scoot(home, "schedule", "list")
    line = next(x for x in done.stdout.splitlines() if "reason:" in x)
    assert line.count("*/5 * * *") == 1, line
    assert "4 field(s)" in line


def test_doctor_counts_one_job_in_the_singular(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "a", "goal": "g", "every_sec": 60}])
    done = run_scoot(home, "doctor", "--offline")
    assert "1 valid job," in done.stdout, done.stdout
    assert "1 valid jobs" not in done.stdout


def test_a_suggestion_ends_its_sentence_before_the_pointer(tmp_path: Path) -> None:
    done = run_scoot(tmp_path, "schedule", "histroy")
    line = only_line(done.stderr)
    assert done.returncode == 2
    assert line == (
        "scoot: No such command 'histroy'. Did you mean 'history'? See `scoot schedule --help`"
    )
    several = run_scoot(tmp_path, "schedule", "lst")
    assert only_line(several.stderr) == (
        "scoot: No such command 'lst'. Did you mean one of: 'last', 'list'? "
        "See `scoot schedule --help`"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--trace", "schedule", "list"],
        ["--trace"],
        ["--retries", "1", "doctor"],
        ["--policy", "readonly", "schedule", "list"],
    ],
)
def test_options_of_exec_without_exec_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    write_config(tmp_path / "home")
    done = run_scoot(tmp_path / "home", *args)
    assert done.returncode == 2, done
    line = only_line(done.stderr)
    assert f"{args[0]} only applies to -e" in line
    assert done.stdout == ""


@pytest.mark.parametrize("port", ["99999", "-5", "http"])
def test_serve_model_rejects_a_port_outside_the_range(tmp_path: Path, port: str) -> None:
    script = tmp_path / "script.json"
    script.write_text('{"default": [{"final": "x"}]}')
    for command in (
        ["python", "-m", "scoot.testing", "serve-model"],
        ["serve-model"],
    ):
        if command[0] == "python":
            import subprocess
            import sys

            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "scoot.testing",
                    "serve-model",
                    "--script",
                    str(script),
                    "--port",
                    port,
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        else:
            done = run_scoot(tmp_path, *command, "--script", str(script), "--port", port)
        assert done.returncode == 2, (command, done)
        line = only_line(done.stderr)
        assert "port" in line and port in line, line
        assert done.stdout == ""
