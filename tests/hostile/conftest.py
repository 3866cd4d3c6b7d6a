"""A runtime directory and a working directory owned by the unprivileged test user."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import helpers, unprivileged
from tests.unprivileged import User


@dataclass
class Attic:
    """`base` is the user's working directory; the runtime dir is its child `.scoot`."""

    user: User
    base: Path

    @property
    def home(self) -> Path:
        return self.base / ".scoot"

    def configure(self, base_url: str, **kwargs: Any) -> Path:
        path = helpers.write_config(self.home, base_url=base_url, **kwargs)
        unprivileged.chown_tree(self.base, self.user)
        return path

    def env(self, **extra: str) -> dict[str, str]:
        return unprivileged.env_for(self.user, self.home, **extra)

    def scoot(self, *args: str, cwd: Path | None = None, timeout: float = 60, **env: str) -> Any:
        return unprivileged.run_as(
            self.user, helpers.scoot_cmd(*args), env=self.env(**env), cwd=cwd or self.base,
            timeout=timeout,
        )  # fmt: skip

    def start(self, *args: str, cwd: Path | None = None, **env: str) -> Any:
        return unprivileged.popen_as(
            self.user, helpers.scoot_cmd(*args), env=self.env(**env), cwd=cwd or self.base
        )

    def every_file_text(self) -> str:
        """Everything scoot wrote under the runtime directory, as one string."""
        chunks = []
        for path in sorted(self.home.rglob("*")):
            if path.is_file() and not path.is_symlink():
                chunks.append(path.read_text(errors="replace"))
        return "\n".join(chunks)


@pytest.fixture
def attic() -> Iterator[Attic]:
    user = unprivileged.require_user()
    base = unprivileged.owned_dir(user, prefix="scoot-hostile-")
    try:
        yield Attic(user, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
