"""Mistakes on the command line end in one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoot.instance.home import Home


def one_error_line(err: str) -> str:
    assert "Traceback" not in err
    assert "internal error" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


USAGE_MISTAKES = [
    (["--bogus"], "No such option '--bogus'", "scoot"),
    (["nope"], "No such command 'nope'", "scoot"),
    (["schedule", "lst"], "No such command 'lst'", "scoot schedule"),
    (["schedule", "list", "--forc"], "No such option '--forc'", "scoot schedule list"),
    (["schedule", "list", "extra"], "unexpected extra argument", "scoot schedule list"),
    (["schedule", "trigger"], "Missing argument 'JOB_ID'", "scoot schedule trigger"),
    (["schedule", "run", "--ticks", "-1"], "--ticks", "scoot schedule run"),
    (["schedule", "run", "--ticks", "x"], "--ticks", "scoot schedule run"),
    (["schedule", "history", "--limit", "-3"], "--limit", "scoot schedule history"),
    (["daemon", "stop", "--timeout", "soon"], "--timeout", "scoot daemon stop"),
    (["session", "show"], "Missing argument 'SESSION_ID'", "scoot session show"),
    (["policy", "check", "bash"], "Missing argument 'ACTION_INPUT'", "scoot policy check"),
    (["--scoot-home"], "requires an argument", "scoot"),
    (["config", "--scoot-home"], "requires an argument", "scoot config"),
    (["-e", "goal", "schedule", "list"], "-e cannot be combined with a command", "scoot"),
    (["--retries", "99", "-e", "x"], "--retries", "scoot"),
    (["setup", "--api", "soap"], "--api", "scoot setup"),
]


@pytest.mark.parametrize(("args", "needle", "where"), USAGE_MISTAKES)
def test_usage_mistakes_are_one_line_and_exit_2(
    run_main, home: Home, args: list[str], needle: str, where: str
) -> None:
    code, out, err = run_main(*args, env={"SCOOT_HOME": str(home.root)})
    assert code == 2, (args, out, err)
    line = one_error_line(err)
    assert line.startswith("scoot: ")
    assert needle in line
    # "; see" ends a statement; after a question ("Did you mean 'list'?") a new sentence.
    assert line.endswith(f"; see `{where} --help`") or line.endswith(f"? See `{where} --help`")
    assert ".;" not in line and "?;" not in line
    assert out == ""


@pytest.mark.parametrize(
    "args",
    [["--definitely-not-a-flag"], ["frobnicate"], ["schedule", "trigger"]],
)
def test_usage_mistakes_as_a_real_process(run_scoot, home: Home, args: list[str]) -> None:
    code, out, err = run_scoot("--scoot-home", str(home.root), *args)
    assert code == 2
    one_error_line(err)
    assert out == ""


def test_help_and_version_exit_0(run_main) -> None:
    code, out, err = run_main("--help")
    assert code == 0 and "Usage: scoot" in out and err == ""
    code, out, _ = run_main("--version")
    assert code == 0 and out.startswith("scoot, version ")
    code, out, _ = run_main()
    assert code == 0 and "Usage: scoot" in out


def test_a_group_without_its_command_shows_its_help(run_main, home: Home) -> None:
    code, out, err = run_main("--scoot-home", str(home.root), "schedule")
    assert code == 0
    assert "Usage: scoot schedule" in out and "list" in out
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["config"],
        ["doctor", "--json"],
        ["schedule", "list"],
        ["schedule", "history"],
        ["schedule", "run", "--ticks", "1"],
        ["schedule", "trigger", "x"],
        ["daemon", "run", "--ticks", "1"],
        ["sessions", "list"],
        ["audit", "show"],
        ["policy", "check", "bash", "ls"],
        ["-e", "say hi"],
    ],
)
def test_a_broken_config_stops_every_command_with_exit_2(
    run_main, home: Home, args: list[str]
) -> None:
    home.config_toml.write_text('[schedule]\nenabled = true\npoll_ms = "fast"\n')
    before = sorted(str(p) for p in home.root.rglob("*"))
    code, out, err = run_main("--scoot-home", str(home.root), *args)
    if args[0] == "doctor":
        # doctor reports instead of stopping: a failed check and exit 1.
        assert code == 1 and "[schedule] poll_ms" in out
        return
    assert code == 2, (args, out, err)
    line = one_error_line(err)
    assert "[schedule] poll_ms must be an integer" in line
    assert str(home.config_toml) in line
    assert sorted(str(p) for p in home.root.rglob("*")) == before


def test_bad_session_id_is_a_usage_error(run_main, home: Home) -> None:
    code, _, err = run_main("--scoot-home", str(home.root), "session", "show", "../../etc")
    assert code == 2
    assert "invalid session id" in one_error_line(err)


def test_unknown_policy_mode_is_a_usage_error(run_main, home: Home) -> None:
    code, _, err = run_main(
        "--scoot-home", str(home.root), "policy", "check", "bash", "ls", "--mode", "loose"
    )
    assert code == 2
    assert "unknown mode 'loose'" in one_error_line(err)


def test_home_problems_are_one_line(run_main, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_main("--scoot-home", str(blocker), "schedule", "list")
    assert code == 2
    assert "is a file" in one_error_line(err)
