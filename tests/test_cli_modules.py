"""The command line's parts: a command loads its own group's module only, and a view's
lines written at once read exactly as they did one echo each."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import orjson
import pytest

from scoot.cli.commands import COMMANDS, cli
from scoot.cli.common import echo_lines
from tests.helpers import clean_env, write_config

# Prints, after one command ran, which command modules and which heavy parts it imported.
PROBE = """
import sys
from scoot.cli.commands import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
import orjson
loaded = sorted(m for m in sys.modules if m.startswith("scoot.cli.") and m.endswith("_cmds"))
watched = ("scoot.instance.config", "scoot.supervise.supervisor", "scoot.shared.policy.gate",
           "scoot.shared.policy.denylist", "scoot.shared.policy.modes")
heavy = sorted(m for m in watched if m in sys.modules)
sys.stderr.write(orjson.dumps({"cmds": loaded, "heavy": heavy}).decode() + "\\n")
"""


def loaded_by(home: Path, *args: str) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    last = done.stderr.strip().splitlines()[-1]
    result: dict[str, list[str]] = orjson.loads(last)
    return result


def test_each_top_level_command_is_named_once_with_its_module() -> None:
    assert sorted(COMMANDS) == cli.list_commands(click.Context(cli))
    for name, where in COMMANDS.items():
        module = where.split(":")[0]
        assert module.startswith("scoot.cli.") and module.endswith("_cmds"), (name, where)
    # Reading `commands` (as --help and the tests do) loads every one of them.
    assert sorted(cli.commands) == sorted(COMMANDS)


def test_a_command_imports_the_modules_of_its_group_only(tmp_path: Path) -> None:
    write_config(tmp_path, jobs=[{"id": "j", "goal": "g", "every_sec": 60}])
    listing = loaded_by(tmp_path, "schedule", "list")
    assert listing["cmds"] == ["scoot.cli.schedule_cmds"]
    history = loaded_by(tmp_path, "schedule", "history")
    assert history["cmds"] == ["scoot.cli.records_cmds", "scoot.cli.schedule_cmds"]
    # A job's mode is resolved with the policy's modes alone, not its gate or denylist.
    assert "scoot.shared.policy.modes" in listing["heavy"]
    assert not {"scoot.shared.policy.gate", "scoot.shared.policy.denylist"} & set(listing["heavy"])
    assert "scoot.supervise.supervisor" not in listing["heavy"]
    # Reading sessions needs neither the config's defaults of `setup` nor the loop.
    sessions = loaded_by(tmp_path, "sessions", "list")
    assert sessions["cmds"] == ["scoot.cli.records_cmds"]
    assert "scoot.supervise.supervisor" not in sessions["heavy"]
    assert loaded_by(tmp_path, "--version") == {"cmds": [], "heavy": []}


def test_root_help_still_lists_every_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scoot", "--help"],
        env=clean_env(tmp_path, COLUMNS="120"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    block = done.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^  (\S+)", block, re.MULTILINE)
    assert listed == sorted(COMMANDS)


def one_echo_each(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


def written(write: Callable[[list[str]], None], lines: list[str]) -> str:
    stream = io.StringIO()  # not a terminal: click strips ANSI escapes
    with contextlib.redirect_stdout(stream):
        write(lines)
    return stream.getvalue()


def test_lines_written_at_once_read_as_one_echo_each() -> None:
    cases = [
        [],
        [""],
        ["one"],
        ["a", "", "b"],
        ["\x1b[31mred\x1b[0m and plain", "next \x1b[1mbold", "\x1b[0m"],
        ["half an escape \x1b[", "31m on the next line", "tab\there"],
        ["ünïcode …", "\u202eoverride"],
    ]
    for lines in cases:
        assert written(echo_lines, lines) == written(one_echo_each, lines), lines


def test_every_name_of_the_policy_package_resolves_to_its_submodule() -> None:
    import importlib

    import scoot.shared.policy as policy

    names = policy._WHERE
    assert {"decide", "explain", "MODES", "catastrophic_command", "ProtectedPaths"} <= set(names)
    for name, module in names.items():
        owner = importlib.import_module(f"scoot.shared.policy.{module}")
        assert getattr(policy, name) is getattr(owner, name), name
    assert set(names) <= set(dir(policy))
    with pytest.raises(AttributeError, match="no_such_name"):
        policy.no_such_name  # noqa: B018


def test_a_listing_row_in_json_holds_every_field_of_the_row() -> None:
    from scoot.cli.listing import render_json
    from scoot.schedule.job_rows import build_rows
    from scoot.schedule.jobs import validate_jobs
    from scoot.schedule.pauses import Pause

    now = 1_700_000_000.0
    raw = [
        {"id": "a", "goal": "g", "every_sec": 300, "jitter_sec": 30, "retries": 2},
        {"id": "b", "goal": "g", "cron": "0 12 * * mon", "mode": "unrestricted"},
        {"id": "c", "goal": "g", "at_unix": now + 60, "max_tokens_per_day": 1000},
        {"id": "../bad", "goal": "g", "every_sec": 5},
    ]
    rows = build_rows(
        validate_jobs(raw),
        enabled=True,
        now=now,
        entries={},
        last_runs={"a": {"status": "ok", "ended_at": now - 5}},
        pauses={"b": Pause(reason="swap", since=now - 1, until=None)},
    )
    shown = render_json(rows, {"enabled": True})["jobs"]
    assert len(shown) == len(rows) == 4
    for row, item in zip(rows, shown, strict=True):
        assert list(item) == [*dataclasses.asdict(row), "next_fire_utc"]
        assert {k: v for k, v in item.items() if k != "next_fire_utc"} == dataclasses.asdict(row)
    assert shown[1]["paused"] is True and shown[0]["last_status"] == "ok"
