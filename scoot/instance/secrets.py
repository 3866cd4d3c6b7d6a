"""The model token: found in the environment, the token file or a command; never stored.

The value travels only to the worker over a pipe. Everything that is shown
to a user (`config`, `doctor`, the audit log) names its source instead.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from scoot.instance.config import BackendConfig
from scoot.instance.home import Home
from scoot.records.files import UnreadableFile, atomic_write_bytes, read_regular_file
from scoot.shared.procgroup import kill_group
from scoot.shared.value_class import value_class

# A token is a line; a bigger file is a mistake (or a link to a device).
MAX_TOKEN_FILE_BYTES = 64 * 1024


@value_class
class Token:
    """A resolved token (value may be None) and a description of where it came from."""

    value: str | None
    source: str
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never let a stray print show the value
        return f"Token(source={self.source!r})"


def token_file_path(home: Home, backend: BackendConfig) -> Path:
    return Path(backend.api_key_file).expanduser() if backend.api_key_file else home.token_file


def token_file_problem(path: Path) -> str | None:
    """Why a token file must not be used, or None when it is safe."""
    try:
        st = path.stat()
    except OSError as exc:
        return f"token file {path} cannot be read ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return f"token file {path} is not a regular file"
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"token file {path} is readable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); refused; run: chmod 600 {path}"
        )
    return None


def resolve_token(
    home: Home, backend: BackendConfig, environ: dict[str, str] | None = None
) -> Token:
    """Env var named by api_key_env, then the 0600 token file, then api_key_cmd."""
    env = os.environ if environ is None else environ
    warnings: list[str] = []
    if backend.api_key_env and env.get(backend.api_key_env):
        return Token(env[backend.api_key_env].strip(), f"env:{backend.api_key_env}")
    path = token_file_path(home, backend)
    if path.exists():
        problem = token_file_problem(path)
        if problem:
            warnings.append(problem)
        else:
            try:
                value = read_regular_file(path, MAX_TOKEN_FILE_BYTES).decode("utf-8").strip()
            except UnreadableFile as exc:
                warnings.append(f"token file {exc}")
            except UnicodeDecodeError:
                warnings.append(f"token file {path} is not valid UTF-8")
            else:
                if value:
                    return Token(value, f"file:{path}", tuple(warnings))
                warnings.append(f"token file {path} is empty")
    if backend.api_key_cmd:
        printed, problem = _run_token_command(backend.api_key_cmd, backend.api_key_cmd_timeout_ms)
        if printed:
            return Token(printed, "command:[backend] api_key_cmd", tuple(warnings))
        warnings.append(problem or "api_key_cmd printed nothing")
    return Token(None, "none", tuple(warnings))


def _run_token_command(command: str, timeout_ms: int) -> tuple[str | None, str | None]:
    # A session of its own, so a timeout ends the whole command, not just its shell.
    try:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        return None, f"api_key_cmd could not run ({exc.strerror})"
    try:
        out, _ = proc.communicate(timeout=timeout_ms / 1000)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.communicate()
        return None, f"api_key_cmd did not finish within {timeout_ms} ms; fix the command"
    if proc.returncode != 0:
        return None, f"api_key_cmd exited with status {proc.returncode}; fix the command"
    value = out.decode("utf-8", "replace").strip()
    return (value, None) if value else (None, "api_key_cmd printed nothing")


def write_token_file(path: Path, value: str) -> None:
    """Create or replace the token file with mode 0600, atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write_bytes(path, value.strip().encode("utf-8") + b"\n", 0o600)
