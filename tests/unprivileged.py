"""An ordinary user for the tests that must not run as root.

Root passes ptrace, /proc and permission checks that stop everyone else, so a
security test run as root proves nothing. When the suite runs as root, these
helpers create (once) a system user with no home and no shell and run the real
`scoot` as that user; when the suite already runs unprivileged, they use the
current user. Only where neither is possible do the tests skip, and the run's
summary says why (see `summary_line`).
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

USER_NAME = "scoot-hostile"


@dataclass(frozen=True)
class User:
    """Who the unprivileged tests run as."""

    name: str
    uid: int
    gid: int


_state: dict[str, User | str] = {}


def _create_user() -> User | str:
    """The test user, created when missing; a reason string when that cannot be done."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return User(entry.pw_name, entry.pw_uid, entry.pw_gid)
    # Parallel test workers may all ask at once: one creates, the others find it.
    with open(os.path.join(tempfile.gettempdir(), f"{USER_NAME}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _find_or_add_user()


def _find_or_add_user() -> User | str:
    try:
        entry = pwd.getpwnam(USER_NAME)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        if not os.path.exists(useradd):
            return "useradd is not available to create an unprivileged user"
        done = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER_NAME],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            return f"useradd {USER_NAME} failed: {done.stderr.strip() or done.returncode}"
        entry = pwd.getpwnam(USER_NAME)
    return User(entry.pw_name, entry.pw_uid, entry.pw_gid)


def user_or_reason() -> User | str:
    """Computed once per test run."""
    if "user" not in _state:
        _state["user"] = _create_user()
    return _state["user"]


def require_user() -> User:
    """The unprivileged user, or skip the calling test with the reason."""
    found = user_or_reason()
    if isinstance(found, str):
        pytest.skip(f"needs an unprivileged user: {found}")
    return found


def summary_line() -> str:
    """What the terminal summary says about the unprivileged tests.

    Asked in the controlling process, which with parallel workers ran no test itself.
    """
    found = user_or_reason()
    if isinstance(found, str):
        return f"unprivileged tests SKIPPED: {found}"
    return f"unprivileged tests ran as {found.name} (uid {found.uid})"


def owned_dir(user: User, prefix: str = "scoot-unpriv-") -> Path:
    """A fresh directory under the system temp dir, owned by `user`, mode 0700.

    pytest's own tmp_path lives under a root-only directory, so the unprivileged
    user could not reach it.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chown(path, user.uid, user.gid)
    path.chmod(0o700)
    return path


def chown_tree(path: Path, user: User) -> None:
    """Give a tree built by root to the test user."""
    for root, dirs, files in os.walk(path):
        os.chown(root, user.uid, user.gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), user.uid, user.gid)


def env_for(user: User, home: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a `scoot` run as `user` with `home` as SCOOT_HOME."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        HOME=str(home.parent), USER=user.name, LOGNAME=user.name, SCOOT_HOME=str(home), **extra
    )
    return env


def _blocked_ancestor(path: str) -> str | None:
    """The highest directory above `path` that other users cannot search, if any."""
    blocked = None
    current = os.path.dirname(os.path.realpath(path))
    while current != "/":
        if not os.stat(current).st_mode & 0o001:
            blocked = current
        current = os.path.dirname(current)
    return blocked


def as_user_argv(user: User, argv: Sequence[str]) -> list[str]:
    """argv run as `user`: setpriv drops root's ids and groups.

    When the interpreter lives under a directory only root may search (pyenv
    under /root), the command runs in a private mount namespace in which that
    directory is covered by an empty, searchable tmpfs with the interpreter's
    tree bound back in: the user reaches Python and nothing else of it, and
    the host's permissions are left as they are.
    """
    if os.geteuid() != 0:
        return list(argv)
    drop = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--"]
    interpreter = os.path.realpath(sys.executable)
    blocked = _blocked_ancestor(interpreter)
    if blocked is None:
        return [*drop, *argv]
    # The first directory under `blocked` on the way to the interpreter.
    keep = os.path.join(blocked, os.path.relpath(interpreter, blocked).split(os.sep)[0])
    script = (
        'stash=$(mktemp -d) && mount --bind "$1" "$stash" && '
        'mount -t tmpfs -o mode=0711 scoot-test "$2" && mkdir -p "$1" && '
        'mount --move "$stash" "$1" && rmdir "$stash" && shift 2 && exec "$@"'
    )
    return [
        "unshare", "--mount", "--propagation", "private", "--",
        "sh", "-c", script, "sh", keep, blocked, *drop, *argv,
    ]  # fmt: skip


def run_as(
    user: User,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = 30,
    input: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run argv as `user` (no supplementary groups); root only drops, never gains."""
    return subprocess.run(
        as_user_argv(user, argv),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        check=False,
    )


def popen_as(
    user: User, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path
) -> subprocess.Popen[str]:
    """Start argv as `user` in the background, stdout and stderr captured."""
    return subprocess.Popen(
        as_user_argv(user, argv),
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
