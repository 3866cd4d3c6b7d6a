"""The systemd units in deploy/systemd: `systemd-analyze verify`, and each directive they promise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scoot.config import ScheduleConfig
from scoot.export import SYSTEM_HARDENING, USER_HARDENING

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
