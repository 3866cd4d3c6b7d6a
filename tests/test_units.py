"""The systemd units in deploy/systemd: `systemd-analyze verify`, and each directive they promise."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scoot.export import SYSTEM_HARDENING, USER_HARDENING, export_jobs
from scoot.instance.config import ScheduleConfig
from scoot.schedule.jobs import validate_jobs
from scoot.testing.model_server import ScriptedModel
from tests import test_sdnotify

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD_DIR = ROOT / "deploy" / "systemd"
USER_DIR = SYSTEMD_DIR / "user"
UNIT_NAMES = ("scoot.service", "scoot-schedule.service", "scoot-schedule.timer")
SYSTEM_SCOOT = "/usr/local/bin/scoot"
USER_SCOOT = "%h/.local/bin/scoot"
# Directives a user manager can only apply with unprivileged user namespaces.
NAMESPACE_DIRECTIVES = (
    "ProtectSystem",
    "PrivateTmp",
    "ProtectHome",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectControlGroups",
)

Unit = dict[str, dict[str, list[str]]]


# --- helpers shared with test_export ----------------------------------------------------------


def systemd_analyze() -> str:
    """The systemd-analyze binary, or skip (with the reason printed) where it is missing."""
    found = shutil.which("systemd-analyze")
    if found is None:
        reason = "systemd-analyze is not installed (apt-get install systemd)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return found


def installed_scoot() -> str:
    """The real `scoot` script of this interpreter: what a unit's ExecStart must find."""
    script = Path(sys.executable).with_name("scoot")
    if script.exists():
        return str(script)
    found = shutil.which("scoot")
    assert found, "the scoot console script is not installed"
    return found


def parse_unit(text: str) -> Unit:
    """Sections -> key -> values (a key may repeat); comments and blank lines dropped."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"line {number}: continuation lines are not used"
        if line.startswith("["):
            assert line.endswith("]"), f"line {number}: bad section header {line!r}"
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"line {number}: {line!r} before any section"
        key, sep, value = line.partition("=")
        assert sep, f"line {number}: {line!r} is not KEY=VALUE"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def verifiable_copy(text: str, directory: Path, name: str, real_scoot: str) -> Path:
    """A copy of a unit whose scoot executable is the real one, so verify can check it."""
    rewritten = re.sub(
        r"^(Exec\w+=)(/usr/local/bin/scoot|%h/\.local/bin/scoot)\b",
        lambda match: match.group(1) + real_scoot,
        text,
        flags=re.MULTILINE,
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(rewritten)
    return path


def verify_problems(paths: list[Path], *, user: bool, runtime_dir: Path) -> list[str]:
    """Everything `systemd-analyze verify` says about our files, plus a bad exit status."""
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir), SYSTEMD_LOG_COLOR="0")
    command = [systemd_analyze(), *(["--user"] if user else []), "verify", "--man=no"]
    done = subprocess.run(
        [*command, *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    names = {path.name for path in paths}
    folders = {str(path.parent) for path in paths}
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if any(name in line for name in names) or any(folder in line for folder in folders)
    ]
    if done.returncode != 0:
        problems.append(f"exit status {done.returncode}: {done.stderr.strip()}")
    return problems


def calendar_elapses(specs: list[str], base: datetime, iterations: int) -> list[datetime]:
    """The first `iterations` elapses after `base` of several OR-ed calendar specs, per systemd."""
    done = subprocess.run(
        [
            systemd_analyze(),
            "calendar",
            f"--iterations={iterations}",
            f"--base-time={base.strftime('%Y-%m-%d %H:%M:%S')} UTC",
            *specs,
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, TZ="UTC"),
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"systemd rejects {specs!r}: {done.stderr.strip()}"
    stamps = re.findall(
        r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", done.stdout
    )
    assert len(stamps) == iterations * len(specs), done.stdout
    elapses = {datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for s in stamps}
    return sorted(elapses)[:iterations]


def seconds(span: str) -> int:
    """A systemd time span such as 30s, 15min or 1h, in seconds."""
    match = re.fullmatch(r"(\d+)\s*(s|sec|min|m|h)?", span)
    assert match, f"unexpected time span {span!r}"
    scale = {"s": 1, "sec": 1, None: 1, "min": 60, "m": 60, "h": 3600}[match.group(2)]
    return int(match.group(1)) * scale


def load(directory: Path, name: str) -> Unit:
    return parse_unit((directory / name).read_text())


def one(unit: Unit, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}= appears {len(values)} times"
    return values[0]


def directives(unit: Unit, section: str) -> set[str]:
    return {f"{key}={value}" for key, values in unit[section].items() for value in values}


# --- systemd-analyze verify --------------------------------------------------------------------


def test_system_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    systemd_analyze()
    copies = [
        verifiable_copy((SYSTEMD_DIR / name).read_text(), tmp_path / "u", name, installed_scoot())
        for name in UNIT_NAMES
    ]
    assert verify_problems(copies, user=False, runtime_dir=tmp_path / "rt") == []


def test_user_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    systemd_analyze()
    copies = [
        verifiable_copy((USER_DIR / name).read_text(), tmp_path / "u", name, installed_scoot())
        for name in UNIT_NAMES
    ]
    assert verify_problems(copies, user=True, runtime_dir=tmp_path / "rt") == []


def test_verification_catches_a_broken_unit(tmp_path: Path) -> None:
    systemd_analyze()
    text = (SYSTEMD_DIR / "scoot.service").read_text()
    typo = verifiable_copy(
        text.replace("KillMode=mixed", "KilMode=mixed"), tmp_path / "a", "scoot.service", "/x"
    )
    problems = verify_problems([typo], user=False, runtime_dir=tmp_path / "rt")
    assert any("KilMode" in line for line in problems), problems
    assert any("/x" in line or "exit status" in line for line in problems), problems


def test_the_timer_fires_at_second_zero_of_every_minute() -> None:
    spec = one(load(SYSTEMD_DIR, "scoot-schedule.timer"), "Timer", "OnCalendar")
    base = datetime(2024, 2, 29, 23, 58, 30, tzinfo=UTC)
    elapses = calendar_elapses([spec], base, 4)
    assert [e.strftime("%H:%M:%S") for e in elapses] == [
        "23:59:00",
        "00:00:00",
        "00:01:00",
        "00:02:00",
    ]


# --- what each unit promises -------------------------------------------------------------------


def test_daemon_unit_is_notify_watchdog_reload_and_drains_runs_itself() -> None:
    unit = load(SYSTEMD_DIR, "scoot.service")
    service = unit["Service"]
    assert one(unit, "Service", "Type") == "notify"
    assert one(unit, "Service", "NotifyAccess") == "main"
    assert one(unit, "Service", "ExecStart") == f"{SYSTEM_SCOOT} daemon run"
    assert one(unit, "Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert seconds(one(unit, "Service", "RestartSec")) >= 1
    assert one(unit, "Service", "KillMode") == "mixed"
    assert one(unit, "Service", "WatchdogSec") == "30"
    defaults = ScheduleConfig()
    drain = defaults.shutdown_grace_sec + defaults.kill_grace_sec
    assert seconds(one(unit, "Service", "TimeoutStopSec")) > drain
    assert "Environment" in service and "SCOOT_HOME=/var/lib/scoot" in service["Environment"]
    assert one(unit, "Service", "StateDirectory") == "scoot"
    assert one(unit, "Service", "StateDirectoryMode") == "0700"
    assert one(unit, "Service", "User") == "scoot"
    assert set(SYSTEM_HARDENING) <= directives(unit, "Service")
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_timer_mode_runs_one_bounded_tick_every_minute() -> None:
    service = load(SYSTEMD_DIR, "scoot-schedule.service")
    assert one(service, "Service", "Type") == "oneshot"
    assert one(service, "Service", "ExecStart") == f"{SYSTEM_SCOOT} schedule run --ticks 1"
    defaults = ScheduleConfig()
    start_bound = seconds(one(service, "Service", "TimeoutStartSec"))
    assert defaults.job_timeout_sec + defaults.kill_grace_sec < start_bound <= 3600
    assert one(service, "Service", "KillMode") == "mixed"
    assert set(SYSTEM_HARDENING) <= directives(service, "Service")
    assert "SCOOT_HOME=/var/lib/scoot" in service["Service"]["Environment"]
    timer = load(SYSTEMD_DIR, "scoot-schedule.timer")
    assert one(timer, "Timer", "OnCalendar") == "*-*-* *:*:00"
    assert one(timer, "Timer", "AccuracySec") == "1s"
    assert one(timer, "Timer", "Persistent") == "true"
    assert one(timer, "Timer", "Unit") == "scoot-schedule.service"
    assert one(timer, "Install", "WantedBy") == "timers.target"


def test_user_units_mirror_the_system_ones_in_the_users_home() -> None:
    for name in UNIT_NAMES:
        system, user = load(SYSTEMD_DIR, name), load(USER_DIR, name)
        if "Service" in system:
            assert "User" not in user["Service"] and "Group" not in user["Service"]
            assert "SCOOT_HOME=%h/.scoot" in user["Service"]["Environment"]
            assert one(user, "Service", "ExecStart") == one(system, "Service", "ExecStart").replace(
                SYSTEM_SCOOT, USER_SCOOT
            )
            assert set(USER_HARDENING) <= directives(user, "Service")
            assert not set(NAMESPACE_DIRECTIVES) & user["Service"].keys()
            same = ("Type", "KillMode", "TimeoutStopSec", "WatchdogSec", "ExecReload", "Restart")
            for key in same:
                assert system["Service"].get(key) == user["Service"].get(key), key
        else:
            assert system["Timer"] == user["Timer"]
    assert one(load(USER_DIR, "scoot.service"), "Install", "WantedBy") == "default.target"


def test_the_daemon_and_timer_services_share_one_user_and_one_runtime_directory() -> None:
    daemon = load(SYSTEMD_DIR, "scoot.service")["Service"]
    tick = load(SYSTEMD_DIR, "scoot-schedule.service")["Service"]
    for key in ("User", "Group", "Environment", "StateDirectory", "StateDirectoryMode", "UMask"):
        assert daemon[key] == tick[key], key


# --- the container recipe ----------------------------------------------------------------------


def test_containerfile_builds_a_non_root_scoot_image() -> None:
    text = (ROOT / "deploy" / "container" / "Containerfile").read_text()
    instructions = [
        line.split(None, 1)
        for line in text.replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    by_name: dict[str, list[str]] = {}
    for name, *rest in instructions:
        by_name.setdefault(name.upper(), []).append(rest[0] if rest else "")
    assert by_name["FROM"][0].startswith("python:3.11-slim")
    assert any("pip install" in run for run in by_name["RUN"])
    assert any("useradd" in run and "10001" in run for run in by_name["RUN"])
    user = by_name["USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert any("SCOOT_HOME=/var/lib/scoot" in env for env in by_name["ENV"])
    assert any("/var/lib/scoot" in volume for volume in by_name["VOLUME"])
    assert by_name["ENTRYPOINT"][-1] == '["scoot"]'
    # USER comes after the last RUN, so nothing at run time is root.
    order = [name.upper() for name, *_ in instructions]
    assert max(i for i, n in enumerate(order) if n == "RUN") < order.index("USER")


# --- docs/systemd.md, command by command --------------------------------------------------------
#
# Every command in the guide's `sh` blocks has a mirror here: the same command
# run locally where it can be (the scoot commands, with /var/lib/scoot mapped to
# a temporary directory and `sudo -u scoot` dropped), and otherwise the check of
# what the command relies on (a unit it installs verifies, a name it uses exists).

DOCS = ROOT / "docs"
SETUP_COMMAND = (
    "sudo -u scoot scoot --scoot-home /var/lib/scoot setup --non-interactive "
    "--enable-schedule --base-url http://127.0.0.1:11434/v1"
)


def doc_commands(path: Path) -> list[str]:
    """The commands of a Markdown file's `sh` blocks that are not run as written.

    In README.md and docs/, a block without `<!-- not-run: ... -->` right above it runs
    for real (tests/test_docs_run.py); only the others need a mirror here.
    """
    run_for_real = path.resolve().parent in (ROOT, ROOT / "docs")
    commands: list[str] = []
    inside = False
    pending = ""
    previous = ""
    for line in path.read_text().splitlines():
        if line.strip().startswith("```"):
            marked = previous.strip().startswith("<!-- not-run:")
            inside = line.strip() == "```sh" and (marked or not run_for_real)
            previous = line
            continue
        previous = line
        if not inside or not line.strip() or line.lstrip().startswith("#"):
            continue
        pending += line.strip()
        if pending.endswith("\\"):
            pending = pending[:-1].strip() + " "
            continue
        commands.append(pending)
        pending = ""
    return commands


def local_argv(command: str, mapping: dict[str, Path]) -> list[str]:
    """A documented command as argv to run here: no sudo, real scoot, paths mapped."""
    for prefix in ("sudo -u scoot ", "sudo "):
        if command.startswith(prefix):
            command = command[len(prefix) :]
            break
    argv = shlex.split(command)
    if argv[0] == "scoot":
        argv[0] = installed_scoot()
    mapped = []
    for arg in argv:
        for documented, local in sorted(mapping.items(), key=lambda item: -len(item[0])):
            if arg == documented or arg.startswith(documented + "/"):
                arg = str(local) + arg[len(documented) :]
                break
        mapped.append(arg)
    return mapped


def run_local(
    argv: list[str], *, home: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SCOOT_")}
    environment.pop("NOTIFY_SOCKET", None)
    environment.update(env)
    return subprocess.run(
        argv,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=home,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def cli_has_export() -> bool:
    done = run_local([installed_scoot(), "schedule", "export", "--help"])
    return done.returncode == 0


def require_cli_export() -> None:
    if not cli_has_export():
        reason = "`scoot schedule export` is not part of the command line yet"
        print(f"SKIP: {reason}")
        pytest.skip(reason)


class DocContext:
    """One runtime directory walked through the guide's steps, shared by the mirrors."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "var-lib-scoot"
        self._provisioned = False
        self._tick: subprocess.CompletedProcess[str] | None = None

    @property
    def mapping(self) -> dict[str, Path]:
        return {"/var/lib/scoot": self.home, "/tmp/scoot-units": self.root / "scoot-units"}

    def scoot(self, command: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run_local(
            local_argv(command, self.mapping), home=self.root, HOME=str(self.root), **env
        )

    def provisioned(self) -> Path:
        """The home after `install -d` and the documented `setup`, with one job added."""
        if not self._provisioned:
            self.home.mkdir(mode=0o700)
            done = self.scoot(SETUP_COMMAND)
            assert done.returncode == 0, done.stderr
            with (self.home / "config.toml").open("a") as config:
                config.write(
                    '\n[[schedule.jobs]]\nid = "disk-check"\n'
                    'goal = "Inspect disk usage and summarize anomalies"\n'
                    'cron = "* * * * *"\ntimeout_sec = 60\n'
                )
            self._provisioned = True
        return self.home

    def tick(self) -> subprocess.CompletedProcess[str]:
        """What scoot-schedule.service runs, run here once against a scripted model."""
        if self._tick is None:
            home = self.provisioned()
            exec_start = one(load(SYSTEMD_DIR, "scoot-schedule.service"), "Service", "ExecStart")
            argv = [installed_scoot(), *exec_start.split()[1:]]
            with ScriptedModel({"default": [{"final": "disk report ok"}]}) as model:
                self._tick = run_local(
                    argv,
                    home=home,
                    SCOOT_HOME=str(home),
                    SCOOT_BACKEND_BASE_URL=model.base_url,
                    HOME=str(self.root),
                )
        return self._tick


def _verify_copies(ctx: DocContext, directory: Path, names: tuple[str, ...], *, user: bool) -> None:
    systemd_analyze()
    folder = ctx.root / f"verify-{len(list(ctx.root.glob('verify-*')))}"
    copies = [
        verifiable_copy((directory / name).read_text(), folder, name, installed_scoot())
        for name in names
    ]
    assert verify_problems(copies, user=user, runtime_dir=ctx.root / "rt") == []


def mirror_install(command: str, ctx: DocContext) -> None:
    # pip puts console scripts next to the environment's python; the link is what units start.
    assert Path(installed_scoot()).parent == Path(sys.executable).parent
    assert 'scoot = "scoot.cli.commands:main"' in (ROOT / "pyproject.toml").read_text()
    if command.startswith("sudo ln -s"):
        target = command.split()[-1]
        for directory in (SYSTEMD_DIR,):
            for name in ("scoot.service", "scoot-schedule.service"):
                assert one(load(directory, name), "Service", "ExecStart").split()[0] == target


def mirror_useradd(command: str, ctx: DocContext) -> None:
    argv = shlex.split(command)
    user, home = argv[-1], argv[argv.index("--home-dir") + 1]
    for name in ("scoot.service", "scoot-schedule.service"):
        unit = load(SYSTEMD_DIR, name)
        assert one(unit, "Service", "User") == user
        assert f"SCOOT_HOME={home}" in unit["Service"]["Environment"]
        assert home == "/var/lib/" + one(unit, "Service", "StateDirectory")


def mirror_install_dir(command: str, ctx: DocContext) -> None:
    argv = shlex.split(command)
    assert argv[argv.index("-m") + 1] == one(
        load(SYSTEMD_DIR, "scoot.service"), "Service", "StateDirectoryMode"
    )
    assert argv[argv.index("-o") + 1] == one(load(SYSTEMD_DIR, "scoot.service"), "Service", "User")
    local = ctx.root / "install-d" / "var" / "lib" / "scoot"
    done = run_local(["install", "-d", "-m", "0700", str(local)])
    assert done.returncode == 0 and stat.S_IMODE(local.stat().st_mode) == 0o700


def mirror_setup(command: str, ctx: DocContext) -> None:
    home = ctx.provisioned()
    assert command == SETUP_COMMAND
    config = (home / "config.toml").read_text()
    assert re.search(r"^enabled = true", config, re.MULTILINE), config
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600


def mirror_scoot(expect: str) -> Callable[[str, DocContext], None]:
    """Run the documented scoot command here; it must succeed and print `expect`."""

    def mirror(command: str, ctx: DocContext) -> None:
        ctx.provisioned()
        if "schedule history" in command:
            assert ctx.tick().returncode == 0
        done = ctx.scoot(command)
        assert done.returncode == 0, done.stderr
        assert expect in done.stdout, done.stdout

    return mirror


def mirror_daemon_status(command: str, ctx: DocContext) -> None:
    """`daemon status` here, where no daemon runs: exit 3, as the guide's table says.

    Under systemd the service runs and it exits 0; tests/test_daemon_status.py
    runs a real daemon for that.
    """
    ctx.provisioned()
    done = ctx.scoot(command)
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert "daemon: never-started" in done.stdout, done.stdout


def mirror_install_units(command: str, ctx: DocContext) -> None:
    names = tuple(Path(arg).name for arg in shlex.split(command)[4:-1])
    assert shlex.split(command)[-1] == "/etc/systemd/system/"
    _verify_copies(ctx, SYSTEMD_DIR, names, user=False)


def mirror_verify(command: str, ctx: DocContext) -> None:
    _verify_copies(ctx, SYSTEMD_DIR, (Path(command.split()[-1]).name,), user=False)


def mirror_daemon_reload(command: str, ctx: DocContext) -> None:
    user = "--user" in command
    _verify_copies(ctx, USER_DIR if user else SYSTEMD_DIR, UNIT_NAMES, user=user)


def mirror_enable(command: str, ctx: DocContext) -> None:
    unit_name = command.split()[-1]
    user = "--user" in command
    unit = load(USER_DIR if user else SYSTEMD_DIR, unit_name)
    wanted = (
        "timers.target"
        if unit_name.endswith(".timer")
        else ("default.target" if user else "multi-user.target")
    )
    assert one(unit, "Install", "WantedBy") == wanted
    if unit_name == "scoot-schedule.timer":
        tick = ctx.tick()  # what each activation of the timer runs
        assert tick.returncode == 0, tick.stderr
        assert "job disk-check OK" in tick.stdout + tick.stderr
    else:
        # Starting the daemon as systemd does is tests/test_sdnotify.py's end-to-end test.
        assert callable(test_sdnotify.test_daemon_notifies_ready_watchdog_reload_and_stop)
        assert one(unit, "Service", "Type") == "notify"


def mirror_daemon_lifecycle(command: str, ctx: DocContext) -> None:
    # status (STATUS=), reload (ExecReload run for real), stop (SIGTERM, exit 0) and the
    # journal (the daemon's stdout) are all exercised by the sd_notify end-to-end test.
    assert callable(test_sdnotify.test_daemon_notifies_ready_watchdog_reload_and_stop)
    unit = load(SYSTEMD_DIR, "scoot.service")
    assert "StandardOutput" not in unit["Service"], "the journal must get the daemon's lines"
    assert one(unit, "Service", "KillMode") == "mixed"


def mirror_list_timers(command: str, ctx: DocContext) -> None:
    spec = one(load(SYSTEMD_DIR, command.split()[-1]), "Timer", "OnCalendar")
    assert len(calendar_elapses([spec], datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC), 2)) == 2


def mirror_tick_journal(command: str, ctx: DocContext) -> None:
    tick = ctx.tick()
    assert "[scoot]" in tick.stdout + tick.stderr


def mirror_user_files(command: str, ctx: DocContext) -> None:
    user_home = ctx.root / "user-home"
    if command.startswith("mkdir"):
        argv = ["mkdir", "-p", str(user_home / ".config" / "systemd" / "user")]
    else:
        source = ROOT / shlex.split(command)[1]
        argv = ["cp", str(source), str(user_home / ".config" / "systemd" / "user") + "/"]
        (user_home / ".config" / "systemd" / "user").mkdir(parents=True, exist_ok=True)
    assert run_local(argv).returncode == 0
    if command.startswith("cp"):
        copied = user_home / ".config" / "systemd" / "user" / "scoot.service"
        assert copied.read_text() == (USER_DIR / "scoot.service").read_text()
        _verify_copies(ctx, copied.parent, ("scoot.service",), user=True)


def mirror_linger(command: str, ctx: DocContext) -> None:
    # Lingering starts the user's default.target at boot, which the user daemon is wanted by.
    assert one(load(USER_DIR, "scoot.service"), "Install", "WantedBy") == "default.target"


def mirror_user_journal(command: str, ctx: DocContext) -> None:
    assert "StandardOutput" not in load(USER_DIR, "scoot.service")["Service"]


def mirror_export(command: str, ctx: DocContext) -> None:
    require_cli_export()
    ctx.provisioned()
    done = ctx.scoot(command)
    assert done.returncode == 0, done.stderr
    out = ctx.mapping["/tmp/scoot-units"]
    names = ("scoot-job-disk-check.service", "scoot-job-disk-check.timer")
    assert sorted(path.name for path in out.iterdir()) == sorted(names)
    _verify_copies(ctx, out, names, user=False)


def mirror_install_exported(command: str, ctx: DocContext) -> None:
    jobs = validate_jobs([{"id": "disk-check", "goal": "g", "cron": "0 6 * * *"}]).jobs
    result = export_jobs(
        jobs, fmt="systemd", home_path="/var/lib/scoot", now=0, default_timeout_sec=600
    )
    sources = [Path(arg).name for arg in shlex.split(command)[4:-1]]
    assert sorted(sources) == sorted(result.files)


def mirror_enable_exported(command: str, ctx: DocContext) -> None:
    jobs = validate_jobs([{"id": "disk-check", "goal": "g", "cron": "0 6 * * *"}]).jobs
    result = export_jobs(
        jobs, fmt="systemd", home_path="/var/lib/scoot", now=0, default_timeout_sec=600
    )
    timer = parse_unit(result.files[command.split()[-1]])
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def mirror_disable(command: str, ctx: DocContext) -> None:
    for name in command.split()[4:]:
        assert (SYSTEMD_DIR / name).exists(), name


SYSTEMD_DOC_MIRRORS: dict[str, Callable[[str, DocContext], None]] = {
    "sudo python3 -m venv /opt/scoot": mirror_install,
    "sudo /opt/scoot/bin/pip install .": mirror_install,
    "sudo ln -s /opt/scoot/bin/scoot /usr/local/bin/scoot": mirror_install,
    "sudo useradd --system --home-dir /var/lib/scoot --shell /usr/sbin/nologin scoot": mirror_useradd,
    "sudo install -d -m 0700 -o scoot -g scoot /var/lib/scoot": mirror_install_dir,
    SETUP_COMMAND: mirror_setup,
    "sudo -u scoot scoot --scoot-home /var/lib/scoot schedule list": mirror_scoot("disk-check"),
    "sudo install -m 0644 deploy/systemd/scoot.service /etc/systemd/system/": mirror_install_units,
    "sudo systemd-analyze verify /etc/systemd/system/scoot.service": mirror_verify,
    "sudo systemctl daemon-reload": mirror_daemon_reload,
    "sudo systemctl enable --now scoot.service": mirror_enable,
    "systemctl status scoot.service": mirror_daemon_lifecycle,
    "sudo -u scoot scoot --scoot-home /var/lib/scoot daemon status": mirror_daemon_status,
    "sudo systemctl reload scoot.service": mirror_daemon_lifecycle,
    "sudo systemctl stop scoot.service": mirror_daemon_lifecycle,
    "sudo install -m 0644 deploy/systemd/scoot-schedule.service deploy/systemd/scoot-schedule.timer /etc/systemd/system/": mirror_install_units,
    "sudo systemctl enable --now scoot-schedule.timer": mirror_enable,
    "systemctl list-timers scoot-schedule.timer": mirror_list_timers,
    "journalctl -u scoot-schedule.service": mirror_tick_journal,
    "sudo -u scoot scoot --scoot-home /var/lib/scoot schedule history": mirror_scoot("disk-check"),
    "mkdir -p ~/.config/systemd/user": mirror_user_files,
    "cp deploy/systemd/user/scoot.service ~/.config/systemd/user/": mirror_user_files,
    "systemctl --user daemon-reload": mirror_daemon_reload,
    "systemctl --user enable --now scoot.service": mirror_enable,
    'loginctl enable-linger "$USER"': mirror_linger,
    "journalctl --user -u scoot.service": mirror_user_journal,
    "journalctl -u scoot.service -f": mirror_daemon_lifecycle,
    "sudo -u scoot scoot --scoot-home /var/lib/scoot schedule export --format systemd --out /tmp/scoot-units": mirror_export,
    "sudo install -m 0644 /tmp/scoot-units/scoot-job-disk-check.service /tmp/scoot-units/scoot-job-disk-check.timer /etc/systemd/system/": mirror_install_exported,
    "sudo systemctl enable --now scoot-job-disk-check.timer": mirror_enable_exported,
    "sudo systemctl disable --now scoot.service scoot-schedule.timer": mirror_disable,
}


@pytest.fixture(scope="module")
def doc_context(tmp_path_factory: pytest.TempPathFactory) -> DocContext:
    return DocContext(tmp_path_factory.mktemp("systemd-doc"))


def test_every_command_in_the_systemd_guide_has_a_mirror() -> None:
    commands = doc_commands(DOCS / "systemd.md")
    assert set(commands) == set(SYSTEMD_DOC_MIRRORS), set(commands) ^ set(SYSTEMD_DOC_MIRRORS)


@pytest.mark.parametrize("command", list(SYSTEMD_DOC_MIRRORS))
def test_systemd_guide_command(command: str, doc_context: DocContext) -> None:
    SYSTEMD_DOC_MIRRORS[command](command, doc_context)
