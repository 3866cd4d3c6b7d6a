"""The worker's kernel layer, proven in real child processes that bypass the policy gate.

Each check forks a child that applies the sandbox and then makes the raw
system calls a tool could make (open, connect, bind, kill); the results come
back over a pipe as JSON. A check the running kernel cannot support is
skipped with the reason, never passed silently.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import select
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scoot.shared.kernel import PR_GET_DUMPABLE, _prctl
from scoot.supervise import fds
from scoot.supervise import scratch as scratch_dirs
from tests.helpers import make_scratch_dir
from worker import sandbox
from worker.sandbox import Limits

PR_SET_CHILD_SUBREAPER = 36
NO_LIMITS = Limits()


def kernel_abi() -> int:
    """The Landlock ABI asked of the kernel directly, independently of the module under test."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(result), 0)


KERNEL_ABI = kernel_abi()


def need_abi(min_abi: int, what: str) -> None:
    if min_abi > KERNEL_ABI:
        pytest.skip(f"{what} needs Landlock ABI {min_abi}; this kernel offers ABI {KERNEL_ABI}")


def attempt(action: Callable[[], object]) -> str:
    """'ok', or the errno name / exception class an action failed with."""
    try:
        action()
    except OSError as error:
        return errno.errorcode.get(error.errno or 0, type(error).__name__)
    except Exception as error:  # reported, not raised: the child must reach _exit
        return type(error).__name__
    return "ok"


def run_child(body: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any] | None, int]:
    """Fork, run `body` in the child, return its JSON result and wait status."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            try:
                result = body()
            except BaseException as error:
                result = {"exception": type(error).__name__, "message": str(error)}
            os.write(write_fd, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks = []
    with os.fdopen(read_fd, "rb") as reader:
        chunks.append(reader.read())
    _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    return (json.loads(data) if data else None), status


@dataclass
class Endpoints:
    backend_port: int
    other_port: int
    abstract_name: str


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    """A backend and a second TCP listener on loopback, and an abstract unix socket."""
    backend = socket.create_server(("127.0.0.1", 0))
    other = socket.create_server(("127.0.0.1", 0))
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract_name = f"\0scoot-sandbox-test-{os.getpid()}-{time.monotonic_ns()}"
    abstract.bind(abstract_name)
    abstract.listen()
    try:
        yield Endpoints(backend.getsockname()[1], other.getsockname()[1], abstract_name)
    finally:
        for listener in (backend, other, abstract):
            listener.close()


@pytest.fixture
def scratch(tmp_path: Path) -> str:
    return make_scratch_dir(str(tmp_path / "scratch"), "run-1")


@pytest.fixture(autouse=True)
def sigusr1_received() -> Iterator[list[int]]:
    """Record SIGUSR1 in the test process: an unconfined child's signal must not kill pytest."""
    received: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, _frame: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGUSR1, previous)


def tcp_connect(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def tcp_bind() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))


def unix_connect(name: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(2)
        client.connect(name)


def write_file(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"x")
    os.close(fd)


def read_file(path: str) -> None:
    with open(path, "rb") as reader:
        reader.read()


def escape_attempts(
    tmp_path: Path, scratch: str, endpoints: Endpoints, parent_pid: int
) -> Callable[[], dict[str, str]]:
    """What a tool could do if the gate let it: raw calls, no gate in the way."""
    readable = tmp_path / "readable.txt"
    readable.write_text("outside scratch")

    def attempts() -> dict[str, str]:
        return {
            "write_outside": attempt(lambda: write_file(str(tmp_path / "outside.txt"))),
            "mkdir_outside": attempt(lambda: os.mkdir(tmp_path / "new-dir")),
            "write_scratch": attempt(lambda: write_file(os.path.join(scratch, "inside.txt"))),
            "write_devnull": attempt(lambda: write_file(os.devnull)),
            "read_outside": attempt(lambda: read_file(str(readable))),
            "connect_backend": attempt(lambda: tcp_connect(endpoints.backend_port)),
            "connect_other": attempt(lambda: tcp_connect(endpoints.other_port)),
            "bind_tcp": attempt(tcp_bind),
            "kill_parent_0": attempt(lambda: os.kill(parent_pid, 0)),
            "signal_parent": attempt(lambda: os.kill(os.getppid(), signal.SIGUSR1)),
            "signal_self": attempt(lambda: os.kill(os.getpid(), 0)),
            "abstract_unix": attempt(lambda: unix_connect(endpoints.abstract_name)),
        }

    return attempts


def sandboxed(
    mode: str,
    tmp_path: Path,
    scratch: str,
    endpoints: Endpoints,
    *,
    max_abi: int | None = None,
    require: bool = True,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Apply the sandbox of `mode` in a child, try every escape, return (report, outcomes)."""
    parent_pid = os.getpid()
    attempts = escape_attempts(tmp_path, scratch, endpoints, parent_pid)

    def body() -> dict[str, Any]:
        report = sandbox.apply(
            mode,
            NO_LIMITS,
            scratch_dir=scratch,
            backend_port=endpoints.backend_port,
            require=require,
            parent_pid=parent_pid,
            max_abi=max_abi,
        )
        return {"report": report.to_dict(), "outcomes": attempts()}

    result, status = run_child(body)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert result is not None and "report" in result, result
    return result["report"], result["outcomes"]


# ---------------------------------------------------------------- probe


def test_probe_reports_the_kernel_abi_and_names_every_feature() -> None:
    def no_new_privs_flag() -> str:
        status = Path("/proc/self/status").read_text()
        return next(line for line in status.splitlines() if line.startswith("NoNewPrivs"))

    before = no_new_privs_flag()
    report = sandbox.probe()
    assert report["abi"] == KERNEL_ABI
    assert report["available"] is (KERNEL_ABI > 0)
    expected = {name for name, _abi, _what in sandbox.LANDLOCK_FEATURES}
    expected |= {"no_new_privs", "pdeathsig", "rlimits", "dumpable", "socket_kinds"}
    assert set(report["features"]) == expected
    for name, min_abi, _what in sandbox.LANDLOCK_FEATURES:
        feature = report["features"][name]
        assert feature["supported"] is (min_abi <= KERNEL_ABI), name
        assert feature["why"]
    assert report["features"]["no_new_privs"]["supported"] is True
    json.dumps(report)
    # Probing restricted nothing: the test process can still write anywhere it could.
    assert no_new_privs_flag() == before
    with tempfile.NamedTemporaryFile(dir="/tmp") as probe_file:
        probe_file.write(b"still writable")


def test_probe_finds_abi_7_on_this_machine() -> None:
    if KERNEL_ABI != 7:
        pytest.skip(f"this kernel offers Landlock ABI {KERNEL_ABI}, not 7")
    assert sandbox.probe()["abi"] == 7


# ---------------------------------------------------------------- readonly


def test_readonly_confines_writes_to_scratch_and_devnull(
    tmp_path: Path, scratch: str, endpoints: Endpoints
) -> None:
    need_abi(1, "filesystem confinement")
    report, outcomes = sandboxed("readonly", tmp_path, scratch, endpoints)
    assert outcomes["write_outside"] == "EACCES"
    assert outcomes["mkdir_outside"] == "EACCES"
    assert not (tmp_path / "outside.txt").exists()
    assert outcomes["write_scratch"] == "ok"
    assert Path(scratch, "inside.txt").read_bytes() == b"x"
    assert outcomes["write_devnull"] == "ok"
    # tmp_path is neither the working directory nor scratch: not readable either.
    assert outcomes["read_outside"] == "EACCES"
    assert report["restrictions"]["fs_readonly"]["applied"] is True
    assert report["restrictions"]["fs_read"]["applied"] is True
    assert report["enforced"] is True


def test_readonly_reads_only_the_working_directory_not_etc_hostname(
    tmp_path: Path, scratch: str, endpoints: Endpoints
) -> None:
    need_abi(1, "filesystem confinement")
    if not Path("/etc/hostname").exists():
        pytest.skip("/etc/hostname does not exist on this machine")
    parent_pid = os.getpid()

    def body() -> dict[str, Any]:
        sandbox.apply(
            "readonly",
            NO_LIMITS,
            scratch_dir=scratch,
            backend_port=None,
            require=True,
            parent_pid=parent_pid,
        )
        return {
            "read": attempt(lambda: read_file("/etc/hostname")),
            "write": attempt(lambda: write_file("/etc/hostname")),
            "read_cwd": attempt(lambda: read_file(str(tmp_path / "mine.txt"))),
        }

    (tmp_path / "mine.txt").write_text("in the working directory")
    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        result, _ = run_child(body)
    finally:
        os.chdir(previous)
    assert result == {"read": "EACCES", "write": "EACCES", "read_cwd": "ok"}


def test_readonly_refuses_truncating_files_outside_scratch(tmp_path: Path, scratch: str) -> None:
    need_abi(3, "truncate confinement")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    parent_pid = os.getpid()

    def body() -> dict[str, Any]:
        sandbox.apply(
            "readonly",
            NO_LIMITS,
            scratch_dir=scratch,
            backend_port=None,
            require=True,
            parent_pid=parent_pid,
        )
        return {"truncate": attempt(lambda: os.truncate(victim, 0))}

    result, _ = run_child(body)
    assert result == {"truncate": "EACCES"}
    assert victim.read_text() == "keep me"


def test_readonly_tcp_connects_only_to_the_backend_port_and_never_binds(
    tmp_path: Path, scratch: str, endpoints: Endpoints
) -> None:
    need_abi(4, "TCP confinement")
    report, outcomes = sandboxed("readonly", tmp_path, scratch, endpoints)
    assert outcomes["connect_backend"] == "ok"
    assert outcomes["connect_other"] == "EACCES"
    assert outcomes["bind_tcp"] == "EACCES"
    assert report["restrictions"]["net_connect"]["applied"] is True
    assert str(endpoints.backend_port) in report["restrictions"]["net_connect"]["why"]
    assert "UDP" in report["restrictions"]["net_connect"]["why"]
    assert report["restrictions"]["net_bind"]["applied"] is True


def test_readonly_cannot_signal_the_daemon_or_reach_its_abstract_sockets(
    tmp_path: Path, scratch: str, endpoints: Endpoints, sigusr1_received: list[int]
) -> None:
    need_abi(6, "signal and abstract socket scoping")
    report, outcomes = sandboxed("readonly", tmp_path, scratch, endpoints)
    assert outcomes["kill_parent_0"] == "EPERM"
    assert outcomes["signal_parent"] == "EPERM"
    assert outcomes["abstract_unix"] == "EPERM"
    assert outcomes["signal_self"] == "ok"
    assert sigusr1_received == []
    assert report["landlock"] == "enforced"
    assert all(entry["applied"] for entry in report["restrictions"].values()), report
    assert report["abi"] == KERNEL_ABI


def test_unknown_mode_is_confined_as_readonly(
    tmp_path: Path, scratch: str, endpoints: Endpoints
) -> None:
    need_abi(1, "filesystem confinement")
    report, outcomes = sandboxed("read-only-ish", tmp_path, scratch, endpoints)
    assert outcomes["write_outside"] == "EACCES"
    assert report["mode"] == "readonly"
    assert "treated as readonly" in report["summary"]


def test_older_abi_degrades_feature_by_feature(
    tmp_path: Path, scratch: str, endpoints: Endpoints, sigusr1_received: list[int]
) -> None:
    need_abi(3, "running with ABI 3 features")
    report, outcomes = sandboxed("readonly", tmp_path, scratch, endpoints, max_abi=3)
    assert outcomes["write_outside"] == "EACCES"
    assert outcomes["connect_other"] == "ok"
    assert outcomes["bind_tcp"] == "ok"
    assert outcomes["signal_parent"] == "ok"
    assert report["abi"] == 3
    assert report["landlock"] == "partial"
    restrictions = report["restrictions"]
    assert restrictions["fs_readonly"]["applied"] is True
    assert restrictions["net_connect"] == {
        "applied": False,
        "why": "needs Landlock ABI 4, running ABI 3",
    }
    assert restrictions["scope_signal"]["applied"] is False
    assert "partial" in report["summary"] and "net_connect" in report["summary"]
    assert sigusr1_received == [signal.SIGUSR1]


# ---------------------------------------------------------------- no Landlock


def test_without_landlock_require_refuses_the_run(scratch: str) -> None:
    parent_pid = os.getpid()

    def body() -> dict[str, Any]:
        sandbox.apply(
            "readonly",
            NO_LIMITS,
            scratch_dir=scratch,
            backend_port=None,
            require=True,
            parent_pid=parent_pid,
            max_abi=0,
        )
        return {"started": True}

    result, _ = run_child(body)
    assert result is not None and result["exception"] == "SandboxRefused", result
    message = result["message"]
    assert message.startswith("readonly run refused: the kernel has no Landlock support")
    assert "[sandbox] require = true" in message and "require = false" in message
    assert "\n" not in message


def test_without_landlock_the_run_goes_on_with_the_gate_alone(
    tmp_path: Path, scratch: str, endpoints: Endpoints
) -> None:
    report, outcomes = sandboxed("readonly", tmp_path, scratch, endpoints, max_abi=0, require=False)
    assert report["landlock"] == "unavailable"
    assert report["enforced"] is False
    assert report["abi"] == 0
    assert "readonly enforced by the policy gate alone" in report["summary"]
    # Honest: nothing in the kernel stops the write now.
    assert outcomes["write_outside"] == "ok"
    assert report["restrictions"]["no_new_privs"]["applied"] is True
    # The socket filter needs no Landlock.
    machine_known = os.uname().machine in sandbox.SECCOMP_ARCHES
    assert report["restrictions"]["socket_kinds"]["applied"] is machine_known


# ---------------------------------------------------------------- guarded, unrestricted


def test_unrestricted_allows_every_call_readonly_refuses(
    tmp_path: Path, scratch: str, endpoints: Endpoints, sigusr1_received: list[int]
) -> None:
    report, outcomes = sandboxed("unrestricted", tmp_path, scratch, endpoints)
    assert outcomes == dict.fromkeys(outcomes, "ok")
    assert (tmp_path / "outside.txt").exists()
    assert sigusr1_received == [signal.SIGUSR1]
    assert report["landlock"] == "not_applied"
    assert report["abi"] == 0
    assert report["restrictions"]["no_new_privs"]["applied"] is True
    assert report["restrictions"]["pdeathsig"]["applied"] is True


def test_guarded_leaves_confinement_to_the_gate(
    tmp_path: Path, scratch: str, endpoints: Endpoints, sigusr1_received: list[int]
) -> None:
    report, outcomes = sandboxed("guarded", tmp_path, scratch, endpoints)
    # Without confine_writes guarded keeps the kernel off the files and the network,
    # the runtime directory aside (none is named here).
    assert outcomes["write_outside"] == "ok"
    assert outcomes["read_outside"] == "ok"
    assert outcomes["connect_other"] == "ok"
    assert report["mode"] == "guarded"
    assert "runtime directory" in report["restrictions"]["fs_readonly"]["why"]
    assert report["restrictions"]["net_connect"]["applied"] is False


def test_report_is_json_with_every_restriction(scratch: str) -> None:
    parent_pid = os.getpid()

    def body() -> dict[str, Any]:
        report = sandbox.apply(
            "unrestricted",
            Limits.from_config({}),
            scratch_dir=scratch,
            backend_port=8080,
            require=False,
            parent_pid=parent_pid,
        )
        return json.loads(json.dumps(report.to_dict()))

    report, _ = run_child(body)
    assert report is not None
    assert list(report["restrictions"]) == list(sandbox.RESTRICTION_KEYS)
    for entry in report["restrictions"].values():
        assert set(entry) == {"applied", "why"} and entry["why"]
    assert report["restrictions"]["rlimits"]["applied"] is True
    assert "cpu 600s" in report["summary"] and "\n" not in report["summary"]


def test_readonly_refuses_when_threads_already_run(scratch: str) -> None:
    need_abi(1, "Landlock thread check")
    parent_pid = os.getpid()

    def body() -> dict[str, Any]:
        release = threading.Event()
        helper = threading.Thread(target=release.wait)
        helper.start()
        try:
            sandbox.apply(
                "readonly",
                NO_LIMITS,
                scratch_dir=scratch,
                backend_port=None,
                require=True,
                parent_pid=parent_pid,
            )
            return {"started": True}
        finally:
            release.set()
            helper.join()

    result, _ = run_child(body)
    assert result is not None and result["exception"] == "SandboxRefused", result
    assert "threads" in result["message"]


# ---------------------------------------------------------------- limits, no_new_privs


def limited_child(limits: Limits, scratch: str, action: Callable[[], dict[str, Any]]) -> Any:
    parent_pid = os.getpid()

    def body() -> dict[str, Any]:
        sandbox.apply(
            "unrestricted",
            limits,
            scratch_dir=scratch,
            backend_port=None,
            require=False,
            parent_pid=parent_pid,
        )
        return action()

    return run_child(body)


def test_address_space_limit_turns_a_memory_hog_into_memory_error(scratch: str) -> None:
    def hog() -> dict[str, Any]:
        try:
            block = bytearray(4 << 30)
        except MemoryError:
            return {"hog": "MemoryError"}
        return {"hog": f"allocated {len(block)} bytes"}

    result, _ = limited_child(Limits(address_space_mb=256), scratch, hog)
    assert result == {"hog": "MemoryError"}


def test_cpu_limit_kills_a_busy_loop(scratch: str) -> None:
    def spin() -> dict[str, Any]:
        deadline = time.monotonic() + 5  # bounded, so a missing limit fails instead of hanging
        while time.monotonic() < deadline:
            pass
        return {"spun": "5s of CPU without being stopped"}

    started = time.monotonic()
    result, status = limited_child(Limits(cpu_sec=1), scratch, spin)
    assert result is None
    assert os.WIFSIGNALED(status), status
    assert os.WTERMSIG(status) == signal.SIGXCPU
    assert time.monotonic() - started < 10


def test_file_size_limit_fails_writes_with_efbig(scratch: str) -> None:
    target = os.path.join(scratch, "big.bin")

    def fill() -> dict[str, Any]:
        chunk = b"\0" * (256 * 1024)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for _ in range(16):  # 4 MiB, past the 1 MiB limit
                os.write(fd, chunk)
        except OSError as error:
            return {"write": errno.errorcode[error.errno or 0]}
        finally:
            os.close(fd)
        return {"write": "ok"}

    result, status = limited_child(Limits(fsize_mb=1), scratch, fill)
    assert result == {"write": "EFBIG"}
    assert os.path.getsize(target) == 1024 * 1024


def test_open_files_limit_and_core_and_no_new_privs(scratch: str) -> None:
    def check() -> dict[str, Any]:
        opened = []
        outcome = "ok"
        try:
            for _ in range(64):
                opened.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as error:
            outcome = errno.errorcode[error.errno or 0]
        for fd in opened:
            os.close(fd)
        status = Path("/proc/self/status").read_text()
        return {
            "open": outcome,
            "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
            "core": list(resource.getrlimit(resource.RLIMIT_CORE)),
            "no_new_privs": "NoNewPrivs:\t1" in status,
        }

    result, _ = limited_child(Limits(nofile=32), scratch, check)
    assert result == {"open": "EMFILE", "nofile": [32, 32], "core": [0, 0], "no_new_privs": True}


# ---------------------------------------------------------------- parent death


@contextmanager
def child_subreaper() -> Iterator[None]:
    """Orphaned grandchildren come back to the test process, so it can reap and inspect them."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1), 0, 0, 0) == 0
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(0), 0, 0, 0)


def wait_reaped(pid: int, within_sec: float) -> int | None:
    deadline = time.monotonic() + within_sec
    while time.monotonic() < deadline:
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return status
        time.sleep(0.01)
    return None


def read_line(fd: int, within_sec: float) -> str:
    ready, _, _ = select.select([fd], [], [], within_sec)
    assert ready, "the sandboxed grandchild never reported"
    return os.read(fd, 64).decode().strip()


def test_worker_dies_with_its_parent(scratch: str) -> None:
    read_fd, write_fd = os.pipe()
    grandchild = 0
    with child_subreaper():
        middle = os.fork()
        if middle == 0:
            try:
                os.close(read_fd)
                middle_pid = os.getpid()
                if os.fork() == 0:
                    sandbox.apply(
                        "unrestricted",
                        NO_LIMITS,
                        scratch_dir=scratch,
                        backend_port=None,
                        require=False,
                        parent_pid=middle_pid,
                    )
                    os.write(write_fd, f"{os.getpid()}\n".encode())
                time.sleep(30)
            finally:
                os._exit(0)
        os.close(write_fd)
        try:
            grandchild = int(read_line(read_fd, 5))
            os.kill(middle, signal.SIGKILL)
            os.waitpid(middle, 0)
            status = wait_reaped(grandchild, within_sec=1.0)
            assert status is not None, "the worker outlived its parent by more than a second"
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            grandchild = 0
        finally:
            os.close(read_fd)
            if grandchild:
                os.kill(grandchild, signal.SIGKILL)
                os.waitpid(grandchild, 0)


def test_worker_whose_parent_is_already_gone_exits_at_once(scratch: str) -> None:
    read_fd, write_fd = os.pipe()
    with child_subreaper():
        middle = os.fork()
        if middle == 0:
            try:
                os.close(read_fd)
                middle_pid = os.getpid()
                if os.fork() == 0:
                    os.write(write_fd, f"{os.getpid()}\n".encode())
                    deadline = time.monotonic() + 5
                    while os.getppid() == middle_pid and time.monotonic() < deadline:
                        time.sleep(0.005)
                    sandbox.apply(
                        "readonly",
                        NO_LIMITS,
                        scratch_dir=scratch,
                        backend_port=None,
                        require=False,
                        parent_pid=middle_pid,
                    )
            finally:
                os._exit(0)
        os.close(write_fd)
        try:
            grandchild = int(read_line(read_fd, 5))
        finally:
            os.close(read_fd)
        os.waitpid(middle, 0)
        status = wait_reaped(grandchild, within_sec=5)
    assert status is not None
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == sandbox.PARENT_GONE_EXIT_CODE


# ---------------------------------------------------------------- decisions (pure)


@pytest.mark.parametrize("abi", range(1, 8))
def test_plan_uses_only_what_the_abi_knows(abi: int) -> None:
    plan = sandbox.plan_landlock(abi, "/scratch", 11434)
    assert plan.handled_fs == sandbox.fs_rights_known(abi)
    assert bool(plan.handled_fs & sandbox.FS_REFER) is (abi >= 2)
    assert bool(plan.handled_fs & sandbox.FS_TRUNCATE) is (abi >= 3)
    assert bool(plan.handled_fs & sandbox.FS_IOCTL_DEV) is (abi >= 5)
    assert bool(plan.handled_net) is (abi >= 4)
    assert plan.port_rules == (((11434, sandbox.NET_CONNECT_TCP),) if abi >= 4 else ())
    assert plan.scoped == (
        sandbox.SCOPE_SIGNAL | sandbox.SCOPE_ABSTRACT_UNIX_SOCKET if abi >= 6 else 0
    )
    rules = {rule.path: rule.access for rule in plan.path_rules}
    assert "/" not in rules  # readonly never grants the whole tree
    assert rules["/scratch"] == plan.handled_fs
    assert rules[os.devnull] & ~sandbox.FS_FILE_RIGHTS == 0
    assert rules[os.devnull] & sandbox.FS_WRITE_FILE
    for access in rules.values():
        assert access & ~plan.handled_fs == 0
    assert plan.attr_size == (24 if abi >= 6 else 16 if abi >= 4 else 8)


def test_plan_without_backend_port_allows_no_tcp_connect() -> None:
    plan = sandbox.plan_landlock(4, "/scratch", None)
    assert plan.handled_net == sandbox.NET_BIND_TCP | sandbox.NET_CONNECT_TCP
    assert plan.port_rules == ()
    why = sandbox.landlock_restrictions(plan, None)["net_connect"].why
    assert "no port" in why
    with pytest.raises(ValueError, match="backend port"):
        sandbox.plan_landlock(4, "/scratch", 70000)


def test_unknown_modes_never_loosen() -> None:
    assert sandbox.effective_mode("readonly") == "readonly"
    assert sandbox.effective_mode("guarded") == "guarded"
    assert sandbox.effective_mode("unrestricted") == "unrestricted"
    assert sandbox.effective_mode("Unrestricted") == "readonly"
    assert sandbox.effective_mode("") == "readonly"


def test_limits_merge_defaults_config_and_job_overrides() -> None:
    assert Limits.from_config({}) == Limits(600, 2048, 256, None, 256)
    merged = Limits.from_config(
        {"require": True, "cpu_sec": 30, "nproc": 64},
        {"id": "nightly", "cpu_sec": 5, "nofile": 0},
    )
    assert merged == Limits(cpu_sec=5, address_space_mb=2048, nofile=None, nproc=64, fsize_mb=256)


@pytest.mark.parametrize("bad", [-1, "many", True, 1.5])
def test_limits_reject_values_that_are_not_whole_numbers(bad: object) -> None:
    with pytest.raises(sandbox.LimitsError) as caught:
        Limits.from_config({}, {"fsize_mb": bad})
    assert "fsize_mb" in str(caught.value) and "\n" not in str(caught.value)


def test_rlimit_plan_gives_cpu_a_kill_second_and_always_disables_core() -> None:
    settings = {s.name: s for s in sandbox.plan_rlimits(Limits(cpu_sec=3, address_space_mb=2))}
    assert (settings["cpu"].soft, settings["cpu"].hard) == (3, 4)
    assert (settings["address space"].soft, settings["address space"].hard) == (2 << 20, 2 << 20)
    assert (settings["core"].soft, settings["core"].hard) == (0, 0)
    assert "processes" not in settings
    assert [s.name for s in sandbox.plan_rlimits(NO_LIMITS)] == ["core"]


# ---------------------------------------------------------------- scratch dirs, fds


def test_scratch_dir_is_private_and_named_by_run(tmp_path: Path) -> None:
    base = tmp_path / "scratch"
    path = make_scratch_dir(str(base), "job-a.42")
    assert path == str(base.resolve() / "job-a.42")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(base).st_mode) == 0o700
    with pytest.raises(FileExistsError):
        make_scratch_dir(str(base), "job-a.42")
    for bad in ("", ".", "..", "a/b"):
        with pytest.raises(ValueError):
            make_scratch_dir(str(base), bad)


def test_removing_scratch_never_follows_symlinks_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    path = Path(make_scratch_dir(str(tmp_path / "scratch"), "run"))
    (path / "sub").mkdir()
    (path / "sub" / "file").write_text("x")
    (path / "link-to-dir").symlink_to(outside)
    (path / "sub" / "link-to-file").symlink_to(outside / "keep.txt")
    scratch_dirs.remove_scratch_dir(str(path))
    assert not path.exists()
    assert (outside / "keep.txt").read_text() == "keep"

    # A scratch path that is itself a symlink: only the link goes.
    link = tmp_path / "scratch" / "swapped"
    link.symlink_to(outside)
    scratch_dirs.remove_scratch_dir(str(link))
    assert not link.is_symlink() and (outside / "keep.txt").exists()
    scratch_dirs.remove_scratch_dir(str(tmp_path / "scratch" / "never-made"))


def test_removing_scratch_opens_up_directories_a_run_locked() -> None:
    base = tempfile.mkdtemp(prefix="scoot-scratch-test-")
    try:
        if os.geteuid() == 0:
            os.chown(base, 65534, 65534)

        def body() -> dict[str, Any]:
            if os.geteuid() == 0:  # root ignores modes: drop to an ordinary user
                os.setgid(65534)
                os.setuid(65534)
            path = make_scratch_dir(base, "run")
            locked = os.path.join(path, "a", "b")
            os.makedirs(locked)
            Path(locked, "file").write_text("x")
            os.chmod(locked, 0)
            os.chmod(os.path.dirname(locked), 0o500)
            removal = attempt(lambda: scratch_dirs.remove_scratch_dir(path))
            return {"removal": removal, "exists": os.path.lexists(path)}

        result, _ = run_child(body)
        assert result == {"removal": "ok", "exists": False}
    finally:
        shutil.rmtree(base)


def test_close_fds_except_keeps_only_the_named_fds() -> None:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            opened = [os.open(os.devnull, os.O_RDONLY) for _ in range(4)]
            keep = {opened[1], write_fd}
            fds.close_fds_except(keep)
            alive = []
            for fd in [0, 1, 2, read_fd, *opened]:
                try:
                    os.fstat(fd)
                    alive.append(fd)
                except OSError:
                    pass
            os.write(write_fd, json.dumps({"alive": alive, "kept": opened[1]}).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        result = json.loads(reader.read())
    os.waitpid(pid, 0)
    assert result["alive"] == [result["kept"]]


def test_close_fds_except_keeps_a_contiguous_run_from_zero() -> None:
    """The worker keeps 0-4; a keep set starting at 0 must not close everything."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            report = os.dup2(write_fd, 300)
            extra = [os.open(os.devnull, os.O_RDONLY) for _ in range(3)]
            fds.close_fds_except({0, 1, 2, report})
            alive = []
            for fd in [0, 1, 2, read_fd, write_fd, *extra]:
                try:
                    os.fstat(fd)
                    alive.append(fd)
                except OSError:
                    pass
            os.write(report, json.dumps(alive).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        alive = json.loads(reader.read() or b"null")
    os.waitpid(pid, 0)
    assert alive == [0, 1, 2]


# ---------------------------------------------------------------- read confinement plan


def fake_tree(tree: dict[str, list[tuple[str, str]]]) -> Callable[[str], list[tuple[str, str]]]:
    return lambda path: tree.get(path, [])


def test_grant_except_grants_every_entry_but_the_branch_to_the_runtime_dir() -> None:
    tree = fake_tree(
        {
            "/home/u": [
                (".scoot", "dir"),
                ("notes.txt", "file"),
                ("project", "dir"),
                ("link", "link"),
            ],
        }
    )
    rules = sandbox.grant_except("/home/u", sandbox.FS_READ_ONLY_RIGHTS, ("/home/u/.scoot",), tree)
    granted = {rule.path: rule.access for rule in rules}
    assert granted == {
        "/home/u": sandbox.FS_READ_DIR,  # listing only: no file beneath through this rule
        "/home/u/notes.txt": sandbox.FS_READ_ONLY_RIGHTS & sandbox.FS_FILE_RIGHTS,
        "/home/u/project": sandbox.FS_READ_ONLY_RIGHTS,
    }
    assert all(rule.entry for rule in rules if rule.path != "/home/u")


def test_grant_except_descends_to_a_protected_file_and_skips_only_it() -> None:
    tree = fake_tree(
        {
            "/": [("etc", "dir"), ("home", "dir")],
            "/home": [("u", "dir"), ("v", "dir")],
            "/home/u": [(".config", "dir"), ("a", "file")],
            "/home/u/.config": [("scoot.toml", "file"), ("other.toml", "file")],
        }
    )
    rules = sandbox.grant_except("/", sandbox.FS_WRITE_FILE, ("/home/u/.config/scoot.toml",), tree)
    paths = {rule.path for rule in rules}
    assert "/home/u/.config/scoot.toml" not in paths
    assert {"/etc", "/home/v", "/home/u/a", "/home/u/.config/other.toml"} <= paths
    # Levels that lead to the protected file get no write right of their own.
    for level in ("/", "/home", "/home/u", "/home/u/.config"):
        assert level not in paths


def test_grant_except_of_a_protected_path_grants_nothing() -> None:
    assert sandbox.grant_except("/r", sandbox.FS_READ_FILE, ("/r",), fake_tree({})) == ()
    plain = sandbox.grant_except("/w", sandbox.FS_READ_FILE, ("/r",), fake_tree({}))
    assert [rule.path for rule in plain] == ["/w"]


def test_a_working_directory_inside_the_runtime_dir_is_not_granted() -> None:
    inside = sandbox.Reach(cwd="/h/logs", scratch_dir="/h/state/scratch/r", protected=("/h",))
    workspace = sandbox.Reach(
        cwd="/h/work/job", scratch_dir="/s", protected=("/h",), workspace_root="/h/work"
    )
    assert sandbox.cwd_reachable(inside) is False
    assert sandbox.cwd_reachable(workspace) is True
    plan = sandbox.plan_landlock(7, inside.scratch_dir, None, reach=inside)
    assert "/h/logs" not in {rule.path for rule in plan.path_rules}


@pytest.mark.parametrize("abi", [1, 4, 6, 7])
def test_guarded_plan_scopes_signals_and_leaves_the_network(abi: int) -> None:
    reach = sandbox.Reach(cwd="/w", scratch_dir="/s", protected=("/h",), confine_writes=True)
    plan = sandbox.plan_landlock(
        abi, "/s", 443, mode="guarded", reach=reach, list_dir=fake_tree({})
    )
    assert plan.handled_net == 0 and plan.port_rules == ()
    assert plan.scoped == (sandbox.SCOPE_SIGNAL if abi >= 6 else 0)
    writes = {rule.path for rule in plan.path_rules if rule.access & sandbox.FS_WRITE_FILE}
    assert writes == {"/w", "/s", os.devnull}


# ---------------------------------------------------------------- socket filter


def run_bpf(program: list[tuple[int, int, int, int]], data: dict[str, int]) -> int:
    """A classic-BPF interpreter for the instructions the filter uses: its verdict on `data`."""
    words = {0: data["nr"], 4: data["arch"], 16: data.get("a0", 0), 24: data.get("a1", 0)}
    words[32] = data.get("a2", 0)
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:
            acc = words[k]
        elif code == 0x54:
            acc &= k
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x35:
            pc += jt if acc >= k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected BPF code {code:#x}")
        pc += 1


X86 = sandbox.SECCOMP_ARCHES["x86_64"][0]
ALLOW = 0x7FFF0000
DENY = 0x00050000 | errno.EACCES


@pytest.mark.parametrize(
    ("domain", "kind", "protocol", "verdict"),
    [
        (socket.AF_UNIX, socket.SOCK_STREAM, 0, ALLOW),
        (socket.AF_INET, socket.SOCK_STREAM, 0, ALLOW),
        (socket.AF_INET6, socket.SOCK_STREAM | socket.SOCK_CLOEXEC, socket.IPPROTO_TCP, ALLOW),
        (socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK, socket.IPPROTO_UDP, ALLOW),
        (socket.AF_INET, socket.SOCK_STREAM, 262, DENY),  # MPTCP
        (socket.AF_INET, socket.SOCK_STREAM, 132, DENY),  # SCTP
        (socket.AF_INET, socket.SOCK_RAW, 0, DENY),
        (socket.AF_INET, socket.SOCK_DGRAM, 1, DENY),  # ICMP "ping" sockets
        (socket.AF_NETLINK, socket.SOCK_RAW, 0, DENY),
        (socket.AF_PACKET, socket.SOCK_RAW, 0, DENY),
        (40, socket.SOCK_STREAM, 0, DENY),  # AF_VSOCK
    ],
)
def test_socket_filter_decides_by_family_type_and_protocol(
    domain: int, kind: int, protocol: int, verdict: int
) -> None:
    program = sandbox.socket_filter_program("x86_64")
    data = {"nr": 41, "arch": X86, "a0": int(domain), "a1": int(kind), "a2": protocol}
    assert run_bpf(program, data) == verdict


def test_socket_filter_allows_other_calls_and_refuses_io_uring_and_foreign_abis() -> None:
    program = sandbox.socket_filter_program("x86_64")
    assert run_bpf(program, {"nr": 0, "arch": X86}) == ALLOW  # read(2)
    assert run_bpf(program, {"nr": 425, "arch": X86}) == DENY  # io_uring_setup
    assert run_bpf(program, {"nr": 41 | 0x40000000, "arch": X86}) == DENY  # x32
    assert run_bpf(program, {"nr": 102, "arch": 0x40000003}) == DENY  # i386 socketcall
    arm = sandbox.SECCOMP_ARCHES["aarch64"][0]
    arm_program = sandbox.socket_filter_program("aarch64")
    assert run_bpf(arm_program, {"nr": 198, "arch": arm, "a0": 16, "a1": 3}) == DENY
    assert run_bpf(arm_program, {"nr": 41, "arch": arm}) == ALLOW  # not socket there
    with pytest.raises(ValueError, match="architecture"):
        sandbox.socket_filter_program("riscv64")


def test_readonly_kernel_refuses_mptcp_netlink_and_io_uring(scratch: str) -> None:
    need_abi(1, "the socket filter rides on the readonly sandbox")
    if os.uname().machine not in sandbox.SECCOMP_ARCHES:
        pytest.skip(f"no socket filter for {os.uname().machine}")
    parent_pid = os.getpid()

    def io_uring_setup() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        params = ctypes.create_string_buffer(120)
        if libc.syscall(ctypes.c_long(425), ctypes.c_uint(4), params) == -1:
            raise OSError(ctypes.get_errno(), "io_uring_setup")

    def attempts() -> dict[str, str]:
        return {
            "mptcp": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)),
            "netlink": attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)),
            "io_uring": attempt(io_uring_setup),
            "tcp": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()),
            "unix": attempt(lambda: socket.socket(socket.AF_UNIX).close()),
        }

    def body(mode: str) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            sandbox.apply(
                mode, NO_LIMITS, scratch_dir=scratch, backend_port=None, require=True,
                parent_pid=parent_pid,
            )  # fmt: skip
            return attempts()

        return run

    confined, _ = run_child(body("readonly"))
    assert confined == {
        "mptcp": "EACCES",
        "netlink": "EACCES",
        "io_uring": "EACCES",
        "tcp": "ok",
        "unix": "ok",
    }
    free, _ = run_child(body("unrestricted"))
    assert free is not None and free["netlink"] == "ok"  # the filter, not the machine, refused


def is_dumpable() -> bool:
    """Whether this process may be dumped or attached to (prctl PR_GET_DUMPABLE)."""
    try:
        return _prctl(PR_GET_DUMPABLE) != 0
    except OSError:
        return True


def test_workers_and_the_sandboxed_child_are_not_dumpable(scratch: str) -> None:
    parent_pid = os.getpid()

    def body() -> dict[str, Any]:
        # The test process may already be non-dumpable (in-process CLI tests make it so).
        ctypes.CDLL(None).prctl(ctypes.c_int(4), ctypes.c_ulong(1), 0, 0, 0)
        before = is_dumpable()
        report = sandbox.apply(
            "unrestricted", NO_LIMITS, scratch_dir=scratch, backend_port=None, require=False,
            parent_pid=parent_pid,
        )  # fmt: skip
        return {"before": before, "after": is_dumpable(), "report": report.to_dict()}

    result, _ = run_child(body)
    assert result is not None
    assert result["before"] is True and result["after"] is False
    assert result["report"]["restrictions"]["dumpable"]["applied"] is True


def test_scrub_environ_clears_the_kernels_copy_of_the_environment() -> None:
    token = f"tok-scrub-{os.getpid()}"
    probe = (
        "import os, sys; from worker.sandbox import scrub_environ; "
        "found = scrub_environ('SCOOT_TEST_TOKEN'); "
        "block = open('/proc/self/environ', 'rb').read(); "
        f"print(found, {token!r}.encode() in block, 'SCOOT_TEST_TOKEN' in os.environ)"
    )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "SCOOT_TEST_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "False"]


def test_guarded_needs_abi_2_and_otherwise_leaves_it_to_the_gate(
    tmp_path: Path, scratch: str, endpoints: Endpoints
) -> None:
    need_abi(1, "Landlock")
    report, outcomes = sandboxed("guarded", tmp_path, scratch, endpoints, max_abi=1)
    assert report["landlock"] == "unavailable"
    assert "ABI 2" in report["restrictions"]["fs_readonly"]["why"]
    assert outcomes["write_outside"] == "ok"
