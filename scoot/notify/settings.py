"""`[notify]` and its `[notify.<name>]` targets: parsed and validated (pure)."""

from __future__ import annotations

import math
import re
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit

from scoot.shared.value_class import value_class

TARGET_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
TARGET_KEYS = frozenset({"url", "command", "secret_env", "timeout_sec"})
# The [notify] table's own keys and the range of each (the rest are targets).
GLOBAL_BOUNDS: dict[str, tuple[float, float]] = {
    "max_age_hours": (0.001, 24 * 365),
    "flush_timeout_sec": (0, 3600),
}
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@value_class
class Target:
    """Where notifications go: a webhook URL or a command fed the payload on stdin."""

    name: str
    url: str | None = None
    command: tuple[str, ...] | None = None
    secret_env: str | None = None
    timeout_sec: float = 10.0


@value_class
class NotifySettings:
    max_age_hours: float = 24.0
    flush_timeout_sec: float = 10.0
    targets: dict[str, Target] = field(default_factory=dict)


def http_url_problem(value: Any, key: str) -> str | None:
    """Why `value` is not an http(s) URL with a host, or None."""
    if not isinstance(value, str) or not value:
        return f"{key} must be an http:// or https:// URL, got {value!r}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{key} must be an http:// or https:// URL with a host, got {value!r}"
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return f"{key} must not contain spaces or control characters, got {value!r}"
    return None


def _number(value: Any, key: str, low: float, high: float) -> tuple[float | None, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None, f"{key} must be a number, got {value!r}"
    if not low <= value <= high:
        return None, f"{key} must be between {low:g} and {high:g}, got {value!r}"
    return float(value), None


def _target(name: str, body: Any) -> tuple[Target | None, str | None, list[str]]:
    where = f"[notify.{name}]"
    warnings: list[str] = []
    if not TARGET_NAME.fullmatch(name):
        return None, f"{where}: a target name is 1 to 64 of A-Z a-z 0-9 . _ -", warnings
    if not isinstance(body, dict):
        return None, f"{where} must be a table, got {body!r}", warnings
    for key in sorted(set(body) - TARGET_KEYS):
        warnings.append(
            f"unknown key {where} {key!r} ignored (known: {', '.join(sorted(TARGET_KEYS))})"
        )
    url = body.get("url")
    command = body.get("command")
    if (url is None) == (command is None):
        return None, f"{where}: set exactly one of url and command", warnings
    if url is not None:
        problem = http_url_problem(url, f"{where} url")
        if problem:
            return None, problem, warnings
    if command is not None:
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(part, str) and part for part in command)
        ):
            return (
                None,
                f'{where} command must be a non-empty array of strings, like ["/usr/bin/page", "--json"]',
                warnings,
            )
        command = tuple(command)
    secret_env = body.get("secret_env")
    if secret_env is not None and (
        not isinstance(secret_env, str) or not ENV_NAME.fullmatch(secret_env)
    ):
        return (
            None,
            f"{where} secret_env must name an environment variable, got {secret_env!r}",
            warnings,
        )
    timeout, problem = _number(body.get("timeout_sec", 10), f"{where} timeout_sec", 0.1, 3600)
    if problem or timeout is None:
        return None, problem, warnings
    return Target(name, url, command, secret_env, timeout), None, warnings


def parse_notify(body: Any, where: str) -> tuple[NotifySettings, list[str], str | None]:
    """The [notify] table -> (settings, warnings, error or None)."""
    if body is None:
        return NotifySettings(), [], None
    if not isinstance(body, dict):
        return NotifySettings(), [], f"{where}: [notify] must be a table, got {body!r}"
    warnings: list[str] = []
    targets: dict[str, Target] = {}
    values: dict[str, float] = {}
    for key, value in body.items():
        if key in GLOBAL_BOUNDS:
            number, problem = _number(value, f"[notify] {key}", *GLOBAL_BOUNDS[key])
        elif isinstance(value, dict):
            target, problem, found = _target(key, value)
            warnings += [f"{where}: {text}" for text in found]
            if target is not None:
                targets[key] = target
            number = None
        else:
            warnings.append(
                f"{where}: unknown key [notify] {key!r} ignored "
                f"(known: {', '.join(GLOBAL_BOUNDS)}, and [notify.<name>] targets)"
            )
            continue
        if problem:
            return NotifySettings(), warnings, f"{where}: {problem}"
        if number is not None:
            values[key] = number
    return NotifySettings(targets=targets, **values), warnings, None
