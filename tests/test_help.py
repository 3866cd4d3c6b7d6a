"""`--help` of every command: whole summaries, every default said, examples that parse."""

from __future__ import annotations

import shlex
import warnings
from collections.abc import Iterator

import click
import pytest

from scoot.cli.commands import cli
from tests.helpers import run_scoot

# Options whose absence means "none", not a default value.
NO_DEFAULT = {"--exec", "--api-key-cmd", "--script"}


def commands(command: click.Command = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from commands(sub, (*path, name))


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


ALL = list(commands())


def _remaining(context: click.Context) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # click 9 folds these into args
        return [*context.protected_args, *context.args]


def parse(args: list[str]) -> None:
    """Resolve and parse a command line as `scoot` would, without running it."""
    context = cli.make_context("scoot", list(args), resilient_parsing=False)
    command: click.Command = cli
    remaining = _remaining(context)
    while isinstance(command, click.Group) and remaining:
        name, sub, rest = command.resolve_command(context, remaining)
        assert sub is not None, f"unknown command {name}"
        context = sub.make_context(name, rest, parent=context)
        command = sub
        remaining = _remaining(context) if isinstance(sub, click.Group) else []


def examples_of(text: str) -> list[str]:
    assert "\nExamples:\n" in text, text
    block = text.split("\nExamples:\n", 1)[1]
    return [line.strip() for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "scoot")
def test_every_command_has_examples_that_parse(run_main, path: tuple[str, ...]) -> None:
    code, out, err = run_main(*path, "--help", env={"COLUMNS": "80"})
    assert code == 0 and err == ""
    examples = examples_of(out)
    assert examples
    for example in examples:
        words = shlex.split(example)
        assert words[0] == "scoot"
        # The example's words name this command (a group may show its subcommands).
        named = [w for w in words[1:] if not w.startswith("-")]
        assert not path or " ".join(path) in " ".join(named), (path, example)
        parse(words[1:])  # the real parser accepts it: a renamed flag fails here


@pytest.mark.parametrize("path", [p for p in ALL if isinstance(command_at(p), click.Group)])
def test_group_listings_are_never_cut(run_main, path: tuple[str, ...]) -> None:
    code, out, _ = run_main(*path, "--help", env={"COLUMNS": "60"})
    assert code == 0
    listing = out.split("\nCommands:\n", 1)[1].split("\nExamples:\n", 1)[0]
    assert "…" not in listing and "..." not in listing
    group = command_at(path)
    assert isinstance(group, click.Group)
    flat = " ".join(listing.split())
    for name, sub in group.commands.items():
        summary = " ".join((sub.help or "").split("\n\n")[0].split())
        assert f"{name} {summary}" in flat, (name, flat)


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "scoot")
def test_every_option_says_its_default(path: tuple[str, ...]) -> None:
    command = command_at(path)
    ctx = click.Context(command, info_name=path[-1] if path else "scoot", show_default=True)
    for param in command.params:
        if not isinstance(param, click.Option) or param.name in ("help", "version"):
            continue
        if param.required or NO_DEFAULT & set(param.opts):
            continue
        if param.is_flag and not param.get_default(ctx):
            continue  # a flag is off unless given
        record = param.get_help_record(ctx)
        assert record is not None
        assert "default" in record[1].lower(), (path, param.opts, record[1])


def test_defaults_in_the_real_help(tmp_path) -> None:  # noqa: ANN001
    stop = run_scoot(tmp_path, "daemon", "stop", "--help")
    assert "[default: 60.0]" in " ".join(stop.stdout.split())
    history = run_scoot(tmp_path, "schedule", "history", "--help")
    assert "[default: 20; x>=0]" in " ".join(history.stdout.split())
    assert "scoot schedule history disk-check --limit 5" in history.stdout
