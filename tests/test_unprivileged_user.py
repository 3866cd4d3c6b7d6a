"""The unprivileged test user really lacks root's powers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests import unprivileged


def test_the_test_user_cannot_read_a_root_only_file(tmp_path: Path) -> None:
    user = unprivileged.require_user()
    work = unprivileged.owned_dir(user)
    secret = work.parent / f"{work.name}-root-only"
    secret.write_text("root only")
    secret.chmod(0o600)
    try:
        probe = f"import os; print(os.geteuid()); open({str(secret)!r}).read()"
        done = unprivileged.run_as(
            user, [sys.executable, "-c", probe], env=unprivileged.env_for(user, work), cwd=work
        )
        assert done.stdout.strip() == str(user.uid)
        assert user.uid != 0
        if os.geteuid() == 0 or os.stat(secret).st_uid != user.uid:
            assert "PermissionError" in done.stderr
    finally:
        secret.unlink()
        os.rmdir(work)
