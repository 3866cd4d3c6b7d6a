"""User-facing errors: one line, a fix, and the exit code the CLI returns."""

from __future__ import annotations

EXIT_RUNTIME = 1
EXIT_USAGE = 2


class ScootError(Exception):
    """An error a user can cause; the CLI prints `message` as one line and exits."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ScootError):
    """The configuration cannot be used (does not parse, wrong type)."""

    exit_code = EXIT_USAGE


class UsageError(ScootError):
    """A command was called with input it cannot accept."""

    exit_code = EXIT_USAGE
