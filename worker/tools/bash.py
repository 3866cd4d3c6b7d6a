"""The bash tool: a command in its own process group, a scrubbed environment, bounded output."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping

from scoot.shared.procgroup import kill_group, signal_name
from worker.tools.base import ToolError

# Output still buffered in the pipe when the shell exits is collected for this long.
_DRAIN_AFTER_EXIT_S = 0.2


_SECRET_ENV_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")


_SECRET_ENV_NAMES = frozenset({"SSH_AUTH_SOCK"})


def scrubbed_environment(environ: Mapping[str, str], extra_names: Iterable[str]) -> dict[str, str]:
    """`environ` without variables that look like secrets, nor the named ones."""
    extra = {name.upper() for name in extra_names if name}
    return {
        name: value
        for name, value in environ.items()
        if name.upper() not in extra
        and name.upper() not in _SECRET_ENV_NAMES
        and not any(marker in name.upper() for marker in _SECRET_ENV_MARKERS)
    }


def run_bash(
    command: str,
    *,
    cwd: str,
    timeout_s: float,
    max_output_bytes: int,
    env: Mapping[str, str],
) -> str:
    """Run `command` with /bin/sh in its own process group and report output and status.

    Output past `max_output_bytes` is read and discarded rather than left in
    the pipe, so the command runs to its natural end instead of blocking on
    a full pipe; the timeout bounds the cost. When the shell exits, or the
    timeout expires, the whole process group is killed, so nothing it
    started in the background outlives the call.
    """
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env),
            close_fds=True,
        )
    except OSError as error:
        raise ToolError(f"cannot start /bin/sh in {cwd}: {error.strerror or error}") from None
    assert process.stdout is not None
    captured = bytearray()
    discarded = 0
    timed_out = False
    deadline = time.monotonic() + timeout_s
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(process.stdout.close)
        exit_watch = _exit_watcher(process.pid)
        if exit_watch is not None:
            cleanup.callback(os.close, exit_watch)
        for chunk in _read_until_exit(process, exit_watch, deadline):
            room = max_output_bytes - len(captured)
            captured += chunk[:room]
            discarded += max(0, len(chunk) - room)
        timed_out = not _has_exited(process.pid)
        kill_group(process.pid)
        process.wait()
    text = captured.decode("utf-8", errors="replace")
    if discarded:
        text += f"\n[output truncated: {discarded} more bytes not shown]"
    if timed_out:
        status = f"timed out after {timeout_s:g}s (process group killed)"
    elif process.returncode < 0:
        status = f"killed by signal {signal_name(-process.returncode)}"
    else:
        status = f"exit code {process.returncode}"
    separator = "\n" if text and not text.endswith("\n") else ""
    return f"{text}{separator}[{status}]"


def _exit_watcher(pid: int) -> int | None:
    """A pidfd that becomes readable when `pid` exits, where the kernel has them."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _has_exited(pid: int) -> bool:
    """Whether `pid` has exited, leaving it unreaped so its group id stays reserved."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _read_until_exit(
    process: subprocess.Popen[bytes], exit_watch: int | None, deadline: float
) -> Iterator[bytes]:
    """Chunks of the merged output until the shell exits (plus a short drain) or the deadline.

    The shell is left unreaped, so its pid, which is also the group id,
    cannot be reused before the caller kills the group.
    """
    assert process.stdout is not None
    out_fd = process.stdout.fileno()
    os.set_blocking(out_fd, False)
    with selectors.DefaultSelector() as selector:
        selector.register(out_fd, selectors.EVENT_READ, "out")
        if exit_watch is not None:
            selector.register(exit_watch, selectors.EVENT_READ, "exit")
        output_open = True
        drain_until: float | None = None
        while True:
            now = time.monotonic()
            stop_at = deadline if drain_until is None else min(deadline, drain_until)
            if now >= stop_at:
                return
            # Without a pidfd, poll for the exit between reads.
            wait = stop_at - now if exit_watch is not None else min(stop_at - now, 0.05)
            for key, _ in selector.select(wait):
                if key.data == "exit":
                    selector.unregister(key.fd)
                    drain_until = time.monotonic() + _DRAIN_AFTER_EXIT_S
                    continue
                try:
                    chunk = os.read(out_fd, 65536)
                except BlockingIOError:
                    continue
                if chunk:
                    yield chunk
                else:
                    # Every writer closed the pipe: nothing more to read.
                    selector.unregister(out_fd)
                    output_open = False
            if drain_until is None and exit_watch is None and _has_exited(process.pid):
                drain_until = time.monotonic() + _DRAIN_AFTER_EXIT_S
            if drain_until is not None and not output_open:
                return
