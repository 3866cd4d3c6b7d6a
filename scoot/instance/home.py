"""The runtime directory: where it is, its tree, and its permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from scoot.errors import ScootError, UsageError
from scoot.shared.value_class import value_class

SUBDIRS = ("logs", "state", "state/sessions", "skills")


@value_class
class Home:
    """Paths of one runtime directory; creating nothing by itself."""

    root: Path

    @property
    def config_toml(self) -> Path:
        return self.root / "config.toml"

    @property
    def config_json(self) -> Path:
        return self.root / "config.json"

    @property
    def token_file(self) -> Path:
        return self.root / "token"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def audit_log(self) -> Path:
        return self.logs / "audit.jsonl"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def sessions(self) -> Path:
        return self.state / "sessions"

    @property
    def daemon_state(self) -> Path:
        return self.state / "daemon.json"

    @property
    def daemon_pid(self) -> Path:
        return self.state / "daemon.pid"

    @property
    def daemon_lock(self) -> Path:
        return self.state / "daemon.lock"

    @property
    def ledger(self) -> Path:
        return self.state / "ledger.json"

    @property
    def ledger_lock(self) -> Path:
        return self.state / "ledger.lock"

    @property
    def pauses(self) -> Path:
        return self.state / "pauses.json"

    @property
    def pauses_lock(self) -> Path:
        return self.state / "pauses.lock"

    @property
    def runs(self) -> Path:
        return self.state / "runs.jsonl"

    @property
    def scratch(self) -> Path:
        return self.state / "scratch"

    def workspace(self, job_id: str) -> Path:
        """The working directory of a job that names no `cwd`."""
        return self.root / "work" / job_id

    def session_file(self, session_id: str) -> Path:
        return self.sessions / f"{session_id}.jsonl"


def resolve_home(option: str | None, environ: dict[str, str] | None = None) -> Home:
    """`--scoot-home` wins over `SCOOT_HOME`, which wins over `~/.scoot`."""
    env = os.environ if environ is None else environ
    raw = option or env.get("SCOOT_HOME") or ""
    if raw:
        return Home(Path(raw).expanduser().absolute())
    return Home(Path.home() / ".scoot")


def not_a_directory(home: Home) -> ScootError | None:
    """The error for a home that is, or lies under, something other than a directory."""
    for candidate in (home.root, *home.root.parents):
        if candidate.exists():
            if candidate.is_dir():
                return None
            what = (
                f"runtime directory {home.root} is a file, not a directory"
                if candidate == home.root
                else f"runtime directory {home.root} cannot exist: {candidate} is a file"
            )
            return UsageError(f"{what}; choose another with --scoot-home or SCOOT_HOME")
    return None


def check_home(home: Home) -> None:
    """For commands that create nothing: a home that cannot be a directory is an error."""
    problem = not_a_directory(home)
    if problem:
        raise problem


def ensure_tree(home: Home) -> list[str]:
    """Create the runtime tree (mode 0700) and return warnings about its permissions.

    Raises UsageError (exit 2) with a fix when the directory cannot be created or written:
    the runtime directory is something the user names.
    """
    warnings: list[str] = []
    check_home(home)
    try:
        home.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for sub in SUBDIRS:
            (home.root / sub).mkdir(mode=0o700, exist_ok=True)
    except PermissionError:
        raise UsageError(
            f"cannot create runtime directory {home.root}: permission denied; "
            "choose another with --scoot-home or SCOOT_HOME"
        ) from None
    except NotADirectoryError:
        raise UsageError(
            f"runtime directory {home.root} is not a directory; "
            "choose another with --scoot-home or SCOOT_HOME"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"cannot create runtime directory {home.root}: {exc.strerror}; "
            "choose another with --scoot-home or SCOOT_HOME"
        ) from None
    if not os.access(home.root, os.W_OK | os.X_OK):
        raise UsageError(
            f"runtime directory {home.root} is not writable by this user; "
            "fix its ownership or choose another with --scoot-home"
        )
    warnings.extend(permission_warnings(home))
    return warnings


def permission_warnings(home: Home) -> list[str]:
    """Warn when others can read or write the runtime directory, or it is not ours."""
    try:
        st = home.root.stat()
    except OSError:
        return []
    found: list[str] = []
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        found.append(
            f"runtime directory {home.root} is writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 700 {home.root}"
        )
    elif st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        found.append(
            f"runtime directory {home.root} is readable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 700 {home.root}"
        )
    if st.st_uid != os.geteuid():
        found.append(
            f"runtime directory {home.root} belongs to uid {st.st_uid}, not to this user "
            f"(uid {os.geteuid()}); run scoot as its owner or choose another home"
        )
    return found
