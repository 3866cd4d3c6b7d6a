"""Shared set-up of the gate's hostile tests: an unprivileged user's runtime and the attacker.

The scripted model is the attacker: its steps direct the tools. Everything
runs as the unprivileged test user through the real `scoot` command.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import unprivileged
from tests.helpers import toml_value

SECRET = "ZQX-SECRET-private-key-material-7741"
TOKEN = "sk-hostile-TOKEN-5f3a9c1e77b2d4"


@dataclass
class Stage:
    """A user's home with a runtime directory in it, a secret beside it and the user."""

    user: unprivileged.User
    base: Path  # the user's $HOME
    home: Path  # $HOME/.scoot, the runtime directory
    secret: Path

    def env(self, **extra: str) -> dict[str, str]:
        return unprivileged.env_for(self.user, self.home, **extra)

    def scoot(self, *args: str, cwd: Path | None = None, timeout: float = 60, **env: str):  # noqa: ANN201
        return unprivileged.run_as(
            self.user,
            [sys.executable, "-m", "scoot", *args],
            env=self.env(**env),
            cwd=cwd or self.base,
            timeout=timeout,
        )

    def start_daemon(self, **env: str):  # noqa: ANN201
        return unprivileged.popen_as(
            self.user,
            [sys.executable, "-m", "scoot", "daemon", "run"],
            env=self.env(**env),
            cwd=self.base,
        )

    def write_config(self, base_url: str, jobs: list[dict[str, Any]] = ()) -> str:  # type: ignore[assignment]
        lines = [
            "[backend]",
            f"base_url = {toml_value(base_url)}",
            'model = "scripted"',
            "retries = 0",
            "[schedule]",
            f"enabled = {toml_value(bool(jobs))}",
            "poll_ms = 100",
            "shutdown_grace_sec = 2",
            "kill_grace_sec = 1",
        ]
        for job in jobs:
            lines.append("[[schedule.jobs]]")
            lines += [f"{k} = {toml_value(v)}" for k, v in job.items()]
        text = "\n".join(lines) + "\n"
        config = self.home / "config.toml"
        config.write_text(text)
        unprivileged.chown_tree(self.base, self.user)
        return text

    def everything_written(self) -> list[tuple[Path, bytes]]:
        """Every regular file under the runtime directory, with its bytes."""
        found: list[tuple[Path, bytes]] = []
        for path in self.home.rglob("*"):
            if path.is_file() and not path.is_symlink():
                found.append((path, path.read_bytes()))
        return found

    def cleanup(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def stage() -> Stage:
    """A fresh stage owned by the unprivileged user (skips when there is none)."""
    user = unprivileged.require_user()
    base = unprivileged.owned_dir(user, prefix="scoot-gate-")
    home = base / ".scoot"
    home.mkdir(mode=0o700)
    outside = base / "outside"
    outside.mkdir(mode=0o700)
    secret = outside / "private.txt"
    secret.write_text(SECRET + "\n")
    unprivileged.chown_tree(base, user)
    return Stage(user, base, home, secret)


def step(action: str, payload: Any, thought: str = "") -> dict[str, Any]:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return {"thought": thought, "action": action, "action_input": text}


def audit_rows(home: Path) -> list[dict[str, Any]]:
    path = home / "logs" / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def denials(home: Path) -> list[str]:
    return [row["msg"] for row in audit_rows(home) if row["kind"] == "policy_deny"]


def assert_absent(texts: list[str | bytes], *needles: str) -> None:
    for text in texts:
        blob = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
        for needle in needles:
            assert needle.encode() not in blob, needle


def link(path: Path, target: Path, user: unprivileged.User) -> None:
    path.symlink_to(target)
    os.lchown(path, user.uid, user.gid)
