"""Worker launch: fork the single-threaded parent into one isolated process per run.

Fork was chosen over exec by measurement (see docs/performance.md): a fork
of the already-imported parent reaches `hello` in a few milliseconds, while
exec pays for a fresh interpreter and its imports on every run.

The child leaves this module only through os._exit, so it never runs the
parent's cleanup code, and it keeps no descriptor but its three pipes.
"""

from __future__ import annotations

import fcntl
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from scoot.shared.contract import GO_FD, wait_for_go
from scoot.shared.fdio import write_all
from scoot.shared.run_spec import RunSpec

# Signals whose parent-side handlers must not survive into a worker.
RESET_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGQUIT)


@dataclass
class WorkerProcess:
    """The parent's handle on one running worker."""

    pid: int
    frame_fd: int  # frames from the worker (read end)
    output_fd: int  # the worker's stdout and stderr (read end)
    go_fd: int | None = None  # a held worker's go pipe (write end) until `go` or `call_off`

    def go(self) -> None:
        """Let a held worker run: its instant has come. Nothing for a worker not held."""
        if self.go_fd is None:
            return
        try:
            os.write(self.go_fd, b"g")
        except BrokenPipeError:
            pass  # it died while held; its exit is recorded as a crash
        finally:
            os.close(self.go_fd)
            self.go_fd = None

    def call_off(self, *, reaped: bool = False) -> None:
        """End a held worker that must not run: close its pipes, kill its group, reap it.

        `reaped`: the loop's reaper collected it already, so its pid may be another's.
        """
        if self.go_fd is not None:
            os.close(self.go_fd)
            self.go_fd = None
        if not reaped:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        for fd in (self.frame_fd, self.output_fd):
            os.close(fd)


def _pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    return read_end, write_end


# What a worker runs once its process is set up: (spec fd, frame fd, parent pid) -> exit code.
WorkerBody = Callable[[int, int, int], int]


def launch_worker(
    spec: RunSpec, body: WorkerBody | None = None, *, held: bool = False
) -> WorkerProcess:
    """Start a worker for `spec` and hand it the spec over a pipe.

    `held`: the worker does its set-up (spec, sandbox, hello) and then waits
    for `WorkerProcess.go` before it asks the model anything, so a run
    launched ahead of its instant starts on it. `body` replaces the agent
    worker (tests use it for workers that misbehave); a held one starts at
    the go.
    """
    spec_r, spec_w = _pipe()
    frame_r, frame_w = _pipe()
    out_r, out_w = _pipe()
    go_r, go_w = _pipe() if held else (-1, None)
    parent_pid = os.getpid()
    pid = os.fork()
    if pid == 0:  # child
        code = 70
        try:
            code = _become_worker(spec_r, frame_w, out_w, go_r, parent_pid, body)
        finally:
            os._exit(code)
    try:
        os.setpgid(pid, pid)  # also done in the child; whichever runs first wins the race
    except OSError:
        pass
    for fd in (spec_r, frame_w, out_w, go_r):
        if fd >= 0:
            os.close(fd)
    payload = orjson.dumps(spec.to_dict())
    try:
        write_all(spec_w, payload)
    except BrokenPipeError:
        pass  # the worker died before reading; its exit is recorded as a crash
    finally:
        os.close(spec_w)
    os.set_blocking(frame_r, False)
    os.set_blocking(out_r, False)
    return WorkerProcess(pid, frame_r, out_r, go_w)


def _become_worker(
    spec_r: int, frame_w: int, out_w: int, go_r: int, parent_pid: int, body: WorkerBody | None
) -> int:
    """Child side of the fork: own process group, clean signals, only our pipes open."""
    from scoot.shared.hardening import set_non_dumpable
    from scoot.supervise.fds import close_fds_except

    # First, before the spec (and its token) is read: no process of the user
    # may open this worker's fds (its frame pipe), environ or memory.
    set_non_dumpable()
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    signal.set_wakeup_fd(-1)
    for signum in RESET_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    # Lift the pipes above the low numbers first, so placing them on 3 and 4 cannot clobber one.
    spec_high = fcntl.fcntl(spec_r, fcntl.F_DUPFD_CLOEXEC, 10)
    frame_high = fcntl.fcntl(frame_w, fcntl.F_DUPFD_CLOEXEC, 10)
    out_high = fcntl.fcntl(out_w, fcntl.F_DUPFD_CLOEXEC, 10)
    go_high = fcntl.fcntl(go_r, fcntl.F_DUPFD_CLOEXEC, 10) if go_r >= 0 else -1
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    os.dup2(devnull, 0)
    os.dup2(out_high, 1)
    os.dup2(out_high, 2)
    os.dup2(spec_high, 3, inheritable=False)
    os.dup2(frame_high, 4, inheritable=False)
    keep = {0, 1, 2, 3, 4}
    if go_high >= 0:
        os.dup2(go_high, GO_FD, inheritable=False)
        keep.add(GO_FD)
    close_fds_except(keep)
    if body is None:
        from worker.main import child_main

        # The agent waits for the go itself, once its set-up is done.
        return child_main(3, 4, parent_pid, GO_FD if go_high >= 0 else None)
    if go_high >= 0 and not wait_for_go(GO_FD):
        return 0  # called off: the parent ends and reaps this process itself
    return body(3, 4, parent_pid)
