"""A real systemd, booted as PID 1 of fresh namespaces, to run the shipped units under.

The unit tests in tests/test_units.py read the unit files; this proves what they do when a real
service manager runs them. It needs root, cgroup2, overlayfs and util-linux (unshare, nsenter,
setpriv), which CI machines and most Linux hosts have; `unavailable_reason()` says what is
missing, and the tests skip with that reason.

How one boot works:

1. The harness makes a cgroup in the host's cgroup2 hierarchy and starts everything in it, so
   teardown can end every process at once (`cgroup.kill`) and remove the cgroups after. Its
   child `boot` becomes the booted systemd's root cgroup; `unshare` itself is moved to the
   sibling `outer`, so that `boot` holds no process of its own and can be given the
   controllers the host has (memory, pids, cpu), which MemoryMax=, TasksMax= and CPUQuota=
   need.
2. `unshare --pid --fork --kill-child --mount --uts --ipc --net --cgroup` runs stage.sh as
   the first process of new namespaces; it waits for the harness to have moved `unshare` out
   (a `go` file in the run directory). stage.sh builds a root for systemd (an overlay of the
   host's / whose writes go to a tmpfs, fresh /dev, /run and /tmp, a cgroup2 mount rooted at
   `boot`) and execs /lib/systemd/systemd as PID 1 there. The network namespace holds
   only a loopback interface, which systemd brings up.
3. Commands run inside with `nsenter --target <pid> --all --root --wd`: `systemctl`,
   `journalctl`, `useradd` and the rest see that system and only it. Writes anywhere inside
   (users, /etc, /usr/local/bin) are private to the boot and vanish with it.
4. Teardown asks systemd to power off (SIGRTMIN+4), kills what is left through the cgroup, and
   removes the cgroups and the run directory. If the test process dies without tearing down,
   the kernel still ends the boot: `setpriv --pdeathsig KILL` kills unshare with it, and
   unshare's `--kill-child` takes PID 1, hence the whole pid namespace, down too.

The package is installed once per source state into a venv outside /tmp (a unit's
PrivateTmp=yes would hide /tmp from the service), bound read-only into each boot at its own
path so that its scripts' #! lines hold: see `venv_location` and `build_venv`.
"""

from __future__ import annotations

import hashlib
import os
import pty
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

HERE = Path(__file__).resolve().parent
STAGE_SCRIPT = HERE / "stage.sh"
SYSTEMD = Path("/lib/systemd/systemd")
CGROUP_PREFIX = "scoot-systemd-test-"
RUN_PREFIX = "scoot-systemd-run-"
# Commands inside get a clean environment: none of the test run's SCOOT_* or venv settings.
INSIDE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "SYSTEMD_PAGER": "",
    "SYSTEMD_COLORS": "0",
}
T = TypeVar("T")


class BootError(RuntimeError):
    """The booted system could not be brought up or does not behave."""


def cgroup2_mount() -> Path | None:
    """Where the host's cgroup2 hierarchy is mounted (pure v2 or the `unified` of a hybrid)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def unavailable_reason() -> str | None:
    """Why a systemd cannot be booted here, or None when it can."""
    if os.geteuid() != 0:
        return "booting systemd in namespaces needs root"
    if not SYSTEMD.exists():
        return f"{SYSTEMD} is missing (apt-get install systemd)"
    for tool in ("unshare", "nsenter", "setpriv", "mount", "pivot_root", "runuser", "useradd"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (util-linux / passwd)"
    if cgroup2_mount() is None:
        return "no cgroup2 hierarchy is mounted"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlay file system"
    return None


def _cgroup_populated(group: Path) -> bool:
    try:
        return "populated 1" in (group / "cgroup.events").read_text()
    except OSError:
        return False


def _remove_cgroup_tree(group: Path) -> None:
    """rmdir a cgroup and its children, deepest first; cgroups have no files to delete."""
    if not group.exists():
        return
    for directory, _, _ in sorted(os.walk(group), key=lambda entry: -len(entry[0])):
        try:
            os.rmdir(directory)
        except OSError:
            pass


def _creator_gone(name: str) -> bool:
    """Cgroups and run directories carry their creator's pid: left behind when it is gone."""
    match = re.search(r"-(\d+)-", name)
    return match is not None and not Path(f"/proc/{match.group(1)}").exists()


def remove_leftovers() -> None:
    """What an earlier test process, killed before its teardown, left: empty cgroups and run
    directories (its processes died with it, see the module docstring)."""
    mount = cgroup2_mount()
    if mount is not None:
        for group in mount.glob(CGROUP_PREFIX + "*"):
            if _creator_gone(group.name) and not _cgroup_populated(group):
                _remove_cgroup_tree(group)
    for run_dir in Path(tempfile.gettempdir()).glob(RUN_PREFIX + "*"):
        if _creator_gone(run_dir.name):
            shutil.rmtree(run_dir, ignore_errors=True)


def wait_until(what: str, check: Callable[[], T | None], timeout: float, step: float = 0.1) -> T:
    """Poll `check` until it returns something true, and return that; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


class BootedSystem:
    """One systemd as PID 1 of its own namespaces; use as a context manager."""

    def __init__(self, name: str, binds: Iterable[Path] = ()) -> None:
        self.name = name
        self.binds = [Path(b) for b in binds]
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-{name}-"))
        mount = cgroup2_mount()
        assert mount is not None
        self.cgroup = mount / f"{CGROUP_PREFIX}{os.getpid()}-{name}-{self.run_dir.name[-6:]}"
        self.pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._console = bytearray()
        self._console_fd: int | None = None
        self._drain: threading.Thread | None = None

    # -- boot and teardown --------------------------------------------------------------------

    def __enter__(self) -> BootedSystem:
        try:
            self.boot()
        except BaseException:
            self.shutdown()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def boot(self, timeout: float = 60) -> None:
        remove_leftovers()
        self.cgroup.mkdir()
        (self.cgroup / "boot").mkdir()
        (self.cgroup / "outer").mkdir()
        (self.run_dir / "stage").mkdir()
        # systemd wants a terminal as /dev/console; a pty we drain keeps its output for errors.
        master, slave = pty.openpty()
        self._console_fd = master
        self._drain = threading.Thread(target=self._drain_console, daemon=True)
        self._drain.start()
        # The shell joins the cgroup before anything else runs, so all that follows is in it.
        command = (
            'echo $$ >"$1/cgroup.procs" && shift && exec "$@"',
            "scoot-boot",
            str(self.cgroup / "boot"),
            "setpriv",
            "--pdeathsig",
            "KILL",
            "unshare",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--cgroup",
            "/bin/bash",
            str(STAGE_SCRIPT),
            str(self.run_dir),
        )
        env = {"PATH": INSIDE_ENV["PATH"], "SCOOT_TEST_BINDS": " ".join(map(str, self.binds))}
        self._process = subprocess.Popen(
            ["/bin/sh", "-c", *command],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        pid_file = self.run_dir / "pid"
        socket = None

        def systemd_listening() -> bool:
            nonlocal socket
            if self._process is not None and self._process.poll() is not None:
                raise BootError(f"the boot exited early:\n{self.console_tail()}")
            if socket is None and pid_file.exists():
                self.pid = int(pid_file.read_text())
                socket = Path(f"/proc/{self.pid}/root/run/systemd/private")
                self._delegate_controllers()
                (self.run_dir / "go").touch()
            return socket is not None and socket.exists()

        try:
            wait_until("systemd's control socket", systemd_listening, timeout, 0.05)
            done = self.run(
                ["systemctl", "is-system-running", "--wait"], check=False, timeout=timeout
            )
        except AssertionError as error:
            raise BootError(f"{error}\n{self.console_tail()}") from None
        state = done.stdout.strip()
        if state not in ("running", "degraded"):
            raise BootError(f"systemd did not finish booting ({state!r}):\n{self.console_tail()}")

    def _delegate_controllers(self) -> None:
        """Move `unshare` to `outer`, then pass every controller the host offers on to `boot`."""
        assert self._process is not None
        (self.cgroup / "outer" / "cgroup.procs").write_text(str(self._process.pid))
        offered = (self.cgroup / "cgroup.controllers").read_text().split()
        for controller in offered:
            try:
                (self.cgroup / "cgroup.subtree_control").write_text(f"+{controller}")
            except OSError:
                pass  # one the host will not delegate: its directives go unchecked, and say so

    def _drain_console(self) -> None:
        assert self._console_fd is not None
        while True:
            try:
                chunk = os.read(self._console_fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self._console += chunk
            del self._console[:-65536]  # the tail is what explains a failure

    def console_tail(self, lines: int = 40) -> str:
        text = self._console.decode("utf-8", "replace").replace("\r", "")
        return "\n".join(text.splitlines()[-lines:])

    def _systemd_is_ours(self) -> bool:
        """The recorded pid is still our PID 1 (its cgroup is ours), not a reused number."""
        try:
            return self.cgroup.name in Path(f"/proc/{self.pid}/cgroup").read_text()
        except OSError:
            return False

    def shutdown(self) -> None:
        """Power off, then kill whatever is left; idempotent, and never leaves a cgroup behind."""
        if self.pid is not None and self._systemd_is_ours():
            os.kill(self.pid, signal.SIGRTMIN + 4)  # systemd's "power off"
        if self._process is not None:
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        if self.cgroup.exists() and _cgroup_populated(self.cgroup):
            kill = self.cgroup / "cgroup.kill"
            if kill.exists():
                kill.write_text("1")
            else:  # kernels before 5.14: signal each process of the tree
                for procs in self.cgroup.rglob("cgroup.procs"):
                    for pid in procs.read_text().split():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            try:
                wait_until(
                    "the boot's cgroup to empty", lambda: not _cgroup_populated(self.cgroup), 10
                )
            except AssertionError:
                pass
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self._process = None
        _remove_cgroup_tree(self.cgroup)
        if self._console_fd is not None:
            os.close(self._console_fd)
            self._console_fd = None
        if self._drain is not None:
            self._drain.join(timeout=2)
            self._drain = None
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.pid = None

    # -- commands inside ----------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float = 30,
        user: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside (as root, or as `user` through runuser); check=True: exit 0."""
        assert self.pid is not None, "not booted"
        inner = list(argv) if user is None else ["runuser", "-u", user, "--", *argv]
        done = subprocess.run(
            ["nsenter", "--target", str(self.pid), "--all", "--root", "--wd", "--", *inner],
            input=input,
            capture_output=True,
            text=True,
            env=INSIDE_ENV,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"inside {self.name}: {' '.join(inner)} exited {done.returncode}\n"
                f"stdout: {done.stdout}\nstderr: {done.stderr}"
            )
        return done

    def sh(self, script: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.run(["/bin/sh", "-ec", script], **kwargs)  # type: ignore[arg-type]

    def systemctl(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        return self.run(["systemctl", *args], check=check, timeout=timeout).stdout.strip()

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        """`systemctl show -p ...` as a dict."""
        out = self.systemctl("show", unit, *(f"--property={p}" for p in properties))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit: str) -> str:
        return self.run(["journalctl", "--no-pager", "-o", "cat", "-u", unit], check=False).stdout

    def path(self, inside: str) -> Path:
        """A path inside, as the host reaches it (for reading files the services wrote)."""
        assert self.pid is not None
        return Path(f"/proc/{self.pid}/root") / inside.lstrip("/")

    def write(self, inside: str, text: str, *, owner: str = "root", mode: str = "0644") -> None:
        """Write a whole file inside with its owner and mode set before it appears."""
        self.run(
            ["install", "-D", "-o", owner, "-g", owner, "-m", mode, "/dev/stdin", inside],
            input=text,
        )


# -- the package, installed as docs/systemd.md says ------------------------------------------


def _source_digest(root: Path) -> str:
    """What the installed package is built from: a new digest means a new venv."""
    digest = hashlib.sha256()
    for path in sorted(
        [root / "pyproject.toml", *root.glob("scoot/**/*.py"), *root.glob("worker/**/*.py")]
    ):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def reachable_by_others(path: Path) -> bool:
    """Every existing directory above `path` lets other users through (missing ones are made
    0755): User=scoot can reach it."""
    parents = [p for p in path.resolve().parents if p.exists()]
    return all(os.stat(parent).st_mode & 0o001 for parent in parents)


def system_python() -> str:
    """The python3 `sudo python3 -m venv` finds (sudo's secure_path), else the first on PATH.

    An interpreter under a private directory (a pyenv in /root) cannot start as User=scoot.
    """
    directories = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
    candidates = [Path(d) / "python3" for d in directories]
    on_path = shutil.which("python3")
    candidates += [Path(on_path)] if on_path else []
    for candidate in candidates:
        if candidate.exists() and reachable_by_others(candidate):
            return str(candidate)
    raise BootError("no python3 that other users can run, to build the venv with")


def venv_location(root: Path) -> Path:
    """The checkout's build/systemd-venv, or one under /var/cache where the service could not
    use that: PrivateTmp=yes hides /tmp and /var/tmp from it, and User=scoot cannot pass a
    private directory (a checkout under /root)."""
    inside = root / "build" / "systemd-venv"
    hidden = any(inside.resolve().is_relative_to(p) for p in ("/tmp", "/var/tmp"))
    if not hidden and reachable_by_others(inside):
        return inside
    return Path("/var/cache/scoot-systemd-test/venv")


def build_venv(root: Path, target: Path) -> Path:
    """`python3 -m venv TARGET` and `TARGET/bin/pip install ROOT`, reused while the source is same.

    TARGET must be outside /tmp and /var/tmp: PrivateTmp=yes hides both from the service, and a
    console script's #! line names its venv's python by absolute path.
    """
    for private in ("/tmp", "/var/tmp"):
        if target.resolve().is_relative_to(private):
            raise BootError(f"{target}: a venv under {private} is hidden from PrivateTmp= services")
    stamp = target / "scoot-source.sha256"
    digest = _source_digest(root)
    if stamp.exists() and stamp.read_text() == digest and (target / "bin" / "scoot").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    for argv in (
        [system_python(), "-m", "venv", str(target)],
        [str(target / "bin" / "pip"), "install", "--quiet", str(root)],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise BootError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    # Written last: a build cut short is rebuilt next time.
    stamp.write_text(digest)
    return target
