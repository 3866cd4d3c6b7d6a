"""Shared pytest fixtures."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

import pytest
from click.testing import CliRunner

from scoot.instance.home import Home, ensure_tree
from tests import helpers

# --- runtime directory and the scoot command line ------------------------------------


class ScootResult(NamedTuple):
    """What one `scoot` invocation ended with; unpacks as (code, out, err)."""

    code: int
    out: str
    err: str


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """A runtime directory with its tree created (mode 0700), no config file yet."""
    created = Home(tmp_path / "scoot-home")
    ensure_tree(created)
    return created


@pytest.fixture
def user_home(tmp_path: Path) -> Path:
    """The HOME a scoot subprocess sees, so `~/.scoot` never touches the real one."""
    path = tmp_path / "user-home"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def run_scoot(user_home: Path) -> Callable[..., ScootResult]:
    """Run the real `scoot` console script: run_scoot(*args, env=..., input=..., cwd=...)."""

    def run(
        *args: str,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        cwd: Path | None = None,
        timeout: float = 20,
    ) -> ScootResult:
        done = helpers.run_scoot(
            None, *args, timeout=timeout, cwd=cwd, input=input, user_home=user_home, **(env or {})
        )
        return ScootResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def run_main(user_home: Path) -> Callable[..., ScootResult]:
    """Run `scoot.cli.commands.main` in this process (same error handling as the script), faster.

    The environment is cleaned of SCOOT_* and the token variable for the call.
    """

    def run(
        *args: str, env: Mapping[str, str] | None = None, input: str | None = None
    ) -> ScootResult:
        return invoke_main(list(args), user_home, env=env, input=input)

    return run


def invoke_main(
    args: list[str],
    user_home: Path,
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> ScootResult:
    """`scoot.cli.commands.main(args)` with captured stdio and an isolated environment."""
    from scoot.cli.commands import main

    overrides: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("SCOOT_") or name == "OPENAI_API_KEY"
    }
    overrides["HOME"] = str(user_home)
    overrides.update(env or {})
    runner = CliRunner()
    with runner.isolation(input=input, env=overrides) as (out, err, _):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        return ScootResult(
            code,
            out.getvalue().decode("utf-8", "replace"),
            err.getvalue().decode("utf-8", "replace"),
        )


# --- end of runtime directory and command line fixtures ------------------------------


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say who the security tests ran as, or why they could not run unprivileged."""
    from tests import unprivileged

    terminalreporter.write_line(unprivileged.summary_line())
