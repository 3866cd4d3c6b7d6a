"""Every `scoot` command shown in README.md and docs/ is a valid command line.

Each one is parsed by the real click command tree (options, arguments,
choices), so a renamed flag or command cannot leave the docs behind. The
behaviour behind them is exercised by the other tests.
"""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import click
import pytest

from scoot.cli.commands import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
SHELL_LANGUAGES = {"", "sh", "bash", "console", "shell"}
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")


def shell_lines(text: str) -> list[str]:
    lines: list[str] = []
    for language, block in FENCE.findall(text):
        if language not in SHELL_LANGUAGES:
            continue
        pending = ""
        for raw in block.splitlines():
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1] + " "
                continue
            lines.append(pending + raw)
            pending = ""
    return lines


def command_words(part: str) -> list[str] | None:
    """The words of a `scoot ...` command, without env assignments, sudo or a trailing &."""
    if not re.search(r"(?:^|\s|/)scoot\s", part):
        return None
    try:
        words = shlex.split(part, comments=True)
    except ValueError:
        return None  # heredoc bodies and prose, not commands
    while words and ENV_ASSIGNMENT.match(words[0]):
        words.pop(0)
    if words[:1] == ["sudo"]:
        words.pop(0)
        while words and words[0].startswith("-"):
            words = words[2:] if words[0] in ("-u", "-g") else words[1:]
    if words and words[-1] == "&":
        words.pop()
    words = without_redirections(words)
    if words and words[0] in ("scoot", "/usr/local/bin/scoot"):
        return words
    return None


REDIRECTION = re.compile(r"^\d?(?:>>?|<)(?:&\d)?")


def without_redirections(words: list[str]) -> list[str]:
    """The words without `> file`, `2>&1`, `>/dev/null` and the like, which the shell takes."""
    kept: list[str] = []
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        match = REDIRECTION.match(word)
        if match:
            skip_next = match.end() == len(word) and not word.endswith(("&1", "&2"))
            continue
        kept.append(word)
    return kept


def scoot_commands() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for line in shell_lines(path.read_text()):
            for part in re.split(r"\s(?:&&|\|\||;|\|)\s", line):
                words = command_words(part)
                if words:
                    found.append((path.name, shlex.join(words)))
    return found


COMMANDS = scoot_commands()


def _remaining(context: click.Context) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # click 9 folds these into args
        return [*context.protected_args, *context.args]


def parse(args: list[str]) -> None:
    """Resolve and parse a command line exactly as `scoot` would, without running it."""
    context = cli.make_context("scoot", list(args), resilient_parsing=False)
    command: click.Command = cli
    remaining = _remaining(context)
    while isinstance(command, click.Group) and remaining:
        name, sub, rest = command.resolve_command(context, remaining)
        assert sub is not None, f"unknown command {name}"
        context = sub.make_context(name, rest, parent=context)
        command = sub
        remaining = _remaining(context) if isinstance(sub, click.Group) else []


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) > 30
    words = {word for _, command in COMMANDS for word in command.split()}
    assert {"schedule", "daemon", "setup", "demo", "-e", "doctor", "export"} <= words


@pytest.mark.parametrize(("page", "command"), COMMANDS, ids=[f"{p}:{c}" for p, c in COMMANDS])
def test_documented_command_parses(page: str, command: str) -> None:
    parse(shlex.split(command)[1:])


def readme_install_commands() -> list[str]:
    """The commands of README.md's "Try it" and "Run the tests" sections."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for title in ("## Try it", "## Run the tests"):
        section = text.split(title, 1)[1].split("\n## ", 1)[0]
        blocks = [block for language, block in FENCE.findall(section) if language == "sh"]
        assert len(blocks) == 1, f"README.md {title!r} should show one ```sh block"
        commands += [line for line in blocks[0].splitlines() if line.strip()]
    return commands


def test_ci_runs_the_readme_commands_as_written() -> None:
    commands = readme_install_commands()
    assert len(commands) == 2, commands
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    for command in commands:
        assert command in ci_lines, f".ci/run does not run the README's command: {command}"
    # each makes and uses its own venv, so a stock python3 without pip rights suffices
    assert all(
        command.startswith("python3 -m venv .venv && . .venv/bin/activate") for command in commands
    )
    assert commands[0].endswith("&& scoot demo")
    assert "pytest" in commands[1]
