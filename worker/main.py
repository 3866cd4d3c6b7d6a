"""Worker entry: read one run spec, apply the sandbox, run the agent, report in frames.

Runs in a freshly forked child with fd 3 = run spec (read), fd 4 = frames
(write), stdout/stderr = the captured output pipe. It never prints frames
to stdout and always ends with exactly one `result` frame when it can.
"""

from __future__ import annotations

# encodings.idna and urllib are what a readonly run may use lazily once it
# cannot read the standard library's source: imported here, once, in the
# parent that forks the workers, instead of in every worker.
import encodings.idna  # noqa: F401  (hostnames that are not ASCII)
import json
import os
import sys
import time
import urllib.error  # noqa: F401
import urllib.request  # noqa: F401
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from scoot.shared.contract import RUN_MARK, wait_for_go
from scoot.shared.fdio import write_all
from scoot.shared.frames import encode_frame
from scoot.shared.run_spec import RunSpec
from worker import sandbox

sandbox.system_read_paths()  # found once in the parent, inherited by each worker


class FrameWriter:
    """Writes whole frames to the frame pipe (blocking: the parent drains it)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, True)

    def __call__(self, frame: dict[str, Any]) -> None:
        write_all(self.fd, encode_frame(frame))


def read_spec(fd: int) -> dict[str, Any]:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    value = json.loads(b"".join(chunks))
    if not isinstance(value, dict):
        raise ValueError("run spec is not an object")
    return value


def backend_port(base_url: str) -> int | None:
    try:
        parts = urlsplit(base_url)
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None


def fallback_ports(spec: RunSpec) -> tuple[int, ...]:
    """The ports of the run's fallback backends (see scoot.shared.spend.backends)."""
    ports = (backend_port(item.base_url) for item in spec.fallbacks)
    return tuple(port for port in ports if port is not None)


def set_title(spec: RunSpec) -> None:
    try:
        from setproctitle import setproctitle
    except ImportError:
        return
    if spec.job_id:
        setproctitle(f"scoot: job {spec.job_id} ({spec.mode})")
    else:
        setproctitle(f"scoot: run {spec.session_id} ({spec.mode})")


def child_main(spec_fd: int, frame_fd: int, parent_pid: int, go_fd: int | None = None) -> int:
    """Run one spec to completion; the return value is the process exit code.

    With `go_fd` the worker was started ahead of its instant: it does its
    set-up (sandbox, hello, prompt, model client), then waits for the
    parent's go before its first model request. A set-up that fails still
    ends at the go, never before: until then the parent does not watch
    this process.
    """
    emit = FrameWriter(frame_fd)
    if go_fd is None:
        return _set_up_and_run(spec_fd, emit, parent_pid, None)
    held_fd = go_fd
    waited = False

    def go() -> None:
        nonlocal waited
        if not waited and not wait_for_go(held_fd):
            os._exit(0)  # called off before its instant: nothing was asked, nothing is owed
        waited = True

    code = _set_up_and_run(spec_fd, emit, parent_pid, go)
    go()
    return code


def _set_up_and_run(
    spec_fd: int, emit: FrameWriter, parent_pid: int, go: Callable[[], None] | None
) -> int:
    try:
        spec = RunSpec.from_dict(read_spec(spec_fd))
    except (OSError, ValueError) as exc:  # RunSpecError is a ValueError
        emit({"type": "result", "status": "error", "answer": None, "error": f"bad run spec: {exc}"})
        return 2
    set_title(spec)
    prepare_environment(spec)
    scratch, private_tmp = private_dirs(spec)
    try:
        os.chdir(spec.cwd)
    except OSError as exc:
        emit(_hello(spec, {"summary": "not applied", "landlock": "not_applied"}))
        emit(_error(f"cannot enter working directory {spec.cwd}: {exc.strerror}"))
        return 1
    reach = sandbox.Reach(
        cwd=os.path.realpath(os.getcwd()),
        scratch_dir=scratch,
        private_tmp=private_tmp,
        protected=spec.sandbox.protected,
        confine_writes=spec.tools.confine_writes,
        workspace_root=spec.sandbox.workspace_root,
        fallback_ports=fallback_ports(spec),
    )
    _import_before_confinement()
    try:
        report = sandbox.apply(
            spec.mode,
            sandbox.Limits.from_config(dict(spec.sandbox.limits), None),
            scratch_dir=scratch,
            backend_port=backend_port(spec.backend.base_url),
            require=spec.sandbox.require,
            parent_pid=parent_pid,
            reach=reach,
        )
    except sandbox.SandboxRefused as exc:
        emit(_hello(spec, {"summary": str(exc), "landlock": "unavailable"}))
        emit(_error(str(exc)))
        return 1
    emit(_hello(spec, report.to_dict()))
    return run_to_result(spec, emit, go)


def prepare_environment(spec: RunSpec) -> None:
    """The environment every process of the run inherits: marked, without the daemon's secrets."""
    # Inherited by everything the run starts, so a later recovery can find it.
    os.environ[RUN_MARK] = spec.run_id
    # The token reaches the backend client through the spec only, never a tool's environment.
    if spec.api_key_env:
        os.environ.pop(spec.api_key_env, None)
    # systemd's channel to the daemon is the daemon's alone.
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"):
        os.environ.pop(name, None)


def private_dirs(spec: RunSpec) -> tuple[str, str]:
    """The run's scratch directory and its private tmp inside it (also TMPDIR)."""
    scratch = spec.sandbox.scratch_dir
    if not os.path.isdir(scratch):
        # Never fall back to the working directory: a readonly run may write only here.
        import tempfile

        scratch = tempfile.mkdtemp(prefix="scoot-scratch-")
    scratch = os.path.realpath(scratch)
    private_tmp = os.path.join(scratch, "tmp")
    try:
        os.makedirs(private_tmp, mode=0o700, exist_ok=True)
    except OSError:
        private_tmp = scratch
    os.environ["TMPDIR"] = private_tmp
    return scratch, private_tmp


def run_to_result(spec: RunSpec, emit: FrameWriter, go: Callable[[], None] | None) -> int:
    """The agent's run, ended by exactly one result frame whatever happens in it."""
    from worker.agent import run_agent

    try:
        result = run_agent(spec, emit, ready=go)
    except MemoryError:
        emit(_error("the run ran out of memory (sandbox address_space_mb limit)"))
        return 1
    except Exception as exc:  # a bug in the agent must still end in a recorded result
        emit({"type": "audit", "kind": "system_error", "msg": f"internal error: {exc!r}"})
        emit(_error(f"internal error in the worker: {type(exc).__name__}: {exc}"))
        return 1
    # When it ended, on the clock the parent shares: a run's duration is its own,
    # even when the parent reads this late (stopped, swapped out).
    emit({"type": "result", **result, "ended_mono": time.monotonic()})
    sys.stdout.flush()
    return 0


def _import_before_confinement() -> None:
    """Load the agent before the ruleset: a readonly worker cannot read its source after."""
    import worker.agent  # noqa: F401


def _hello(spec: RunSpec, sandbox_report: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "hello",
        "pid": os.getpid(),
        "run_id": spec.run_id,
        "job_id": spec.job_id,
        "mode": spec.mode,
        "sandbox": sandbox_report,
    }


def _error(message: str) -> dict[str, Any]:
    return {
        "type": "result",
        "status": "error",
        "answer": None,
        "error": message,
        "ended_mono": time.monotonic(),
    }
