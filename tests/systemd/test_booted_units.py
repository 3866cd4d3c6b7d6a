"""The shipped units under a real systemd: readiness, reload, restarts, watchdog, hardening, timer.

Two systems are booted once for the module (tests/systemd/harness.py), one per mode, since
docs/systemd.md says to use one mode per runtime directory: one runs scoot.service, the other
scoot-schedule.timer. Each is provisioned as docs/systemd.md says (the package in a venv linked
to /usr/local/bin/scoot, the `scoot` system user, /var/lib/scoot, `setup`), with the scripted
model listening on 127.0.0.1:11434 inside its network namespace, the address the guide's `setup`
line names. The units are copied in unchanged; the watchdog test alone adds a drop-in that
shortens WatchdogSec, so that it waits seconds rather than minutes.

The timer system is booted first: its timer fires at second 0 of a minute, and that minute
passes while the daemon tests run.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.systemd.harness import (
    BootedSystem,
    build_venv,
    unavailable_reason,
    venv_location,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
HOME = "/var/lib/scoot"
MODEL_PORT = 11434
# Directories the scoot user owns, so that only the unit's ProtectSystem=strict and
# ProtectHome=read-only can stop a write there, not file permissions.
GUARDED_DIRS = (
    "/etc/scoot-probe",
    "/usr/local/scoot-probe",
    "/srv/scoot-probe",
    "/home/scoot-probe",
)
PROBE_REPORT = f"{HOME}/probe-report.txt"
PROBE_COMMAND = (
    "for p in "
    + " ".join(f"{d}/f" for d in GUARDED_DIRS)
    + f" /etc/scoot-probe-file {HOME}/probe-written /tmp/scoot-probe; do "
    'if err=$( { : > "$p"; } 2>&1 ); then echo "$p written"; else echo "$p refused: $err"; fi; '
    "done > " + PROBE_REPORT + "; grep -E '^(Uid|NoNewPrivs):' /proc/self/status >> " + PROBE_REPORT
)
MODEL_SCRIPT = {
    "rules": [
        {
            "match": "probe the file system",
            "steps": [
                {"thought": "try to write", "action": "bash", "action_input": PROBE_COMMAND},
                {"final": "probed"},
            ],
        },
        {"match": "fail on purpose", "steps": [{"status": 400}]},
    ],
    "default": [{"final": "all good"}],
}
DAEMON_JOBS = """
[[schedule.jobs]]
id = "greeting"
goal = "Say hello"
every_sec = 3600

[[schedule.jobs]]
id = "write-probe"
goal = "probe the file system from inside the service"
every_sec = 3600
mode = "unrestricted"
"""
RELOADED_JOB = """
[[schedule.jobs]]
id = "added-by-reload"
goal = "Say hello after the reload"
every_sec = 3600
"""
TIMER_JOBS = """
[[schedule.jobs]]
id = "tick-ok"
goal = "Say hello every minute"
cron = "* * * * *"

[[schedule.jobs]]
id = "tick-fails"
goal = "fail on purpose every minute"
cron = "* * * * *"
"""

pytestmark = pytest.mark.timeout(240)


# --- provisioning, as docs/systemd.md says --------------------------------------------------


def scoot_as_user(system: BootedSystem, *args: str, check: bool = True) -> str:
    """`sudo -u scoot scoot --scoot-home /var/lib/scoot ...` (runuser: sudo may be absent)."""
    done = system.run(["scoot", "--scoot-home", HOME, *args], user="scoot", check=check)
    return done.stdout + done.stderr


def provision(system: BootedSystem, venv: Path, jobs: str, unit_files: tuple[str, ...]) -> None:
    # "Install": the venv (built on the host, bound in read-only) linked where the units look.
    system.run(["ln", "-sf", str(venv / "bin" / "scoot"), "/usr/local/bin/scoot"])
    # The scripted model, as its own transient unit, where `setup --base-url` points.
    system.write("/srv/scoot-test/model.json", json.dumps(MODEL_SCRIPT))
    system.run(
        [
            "systemd-run",
            "--unit=scripted-model",
            "--property=Type=exec",
            str(venv / "bin" / "python"),
            "-m",
            "scoot.testing",
            "serve-model",
            "--script",
            "/srv/scoot-test/model.json",
            "--port",
            str(MODEL_PORT),
        ]
    )
    wait_until(
        "the scripted model to listen",
        lambda: "scripted model listening" in system.journal("scripted-model.service"),
        30,
    )
    # The system user, its runtime directory and a configuration with scheduling enabled.
    system.run(["useradd", "--system", "--home-dir", HOME, "--shell", "/usr/sbin/nologin", "scoot"])
    system.run(["install", "-d", "-m", "0700", "-o", "scoot", "-g", "scoot", HOME])
    scoot_as_user(
        system,
        "setup",
        "--non-interactive",
        "--enable-schedule",
        "--base-url",
        f"http://127.0.0.1:{MODEL_PORT}/v1",
    )
    append_jobs(system, jobs)
    listed = scoot_as_user(system, "schedule", "list")
    for job_id in re.findall(r'^id = "([^"]+)"', jobs, re.MULTILINE):
        assert job_id in listed, listed
    # The units, copied in unchanged, and verified as the guide does.
    for name in unit_files:
        system.run(["install", "-m", "0644", str(UNITS / name), "/etc/systemd/system/"])
    for name in unit_files:
        installed = system.path(f"/etc/systemd/system/{name}").read_text()
        assert installed == (UNITS / name).read_text(), f"{name} changed on its way in"
    system.systemctl("daemon-reload")


def append_jobs(system: BootedSystem, jobs: str) -> None:
    """Add jobs to config.toml as the scoot user, so it keeps its owner and mode 0600."""
    system.run(["tee", "-a", f"{HOME}/config.toml"], user="scoot", input=jobs)


def jsonl(system: BootedSystem, inside: str) -> list[dict[str, Any]]:
    path = system.path(inside)
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def runs_of(system: BootedSystem, job_id: str) -> list[dict[str, Any]]:
    return [r for r in jsonl(system, f"{HOME}/state/runs.jsonl") if r.get("job_id") == job_id]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = unavailable_reason()
    if reason is not None:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return build_venv(ROOT, venv_location(ROOT))


@pytest.fixture(scope="module")
def timer_system(venv: Path) -> Iterator[BootedSystem]:
    with BootedSystem("timer", binds=[venv, UNITS]) as system:
        provision(system, venv, TIMER_JOBS, ("scoot-schedule.service", "scoot-schedule.timer"))
        system.systemctl("enable", "--now", "scoot-schedule.timer")
        yield system


@pytest.fixture(scope="module")
def daemon_system(venv: Path, timer_system: BootedSystem) -> Iterator[BootedSystem]:
    with BootedSystem("daemon", binds=[venv, UNITS]) as system:
        provision(system, venv, DAEMON_JOBS, ("scoot.service",))
        for directory in GUARDED_DIRS:
            system.run(["install", "-d", "-m", "0755", "-o", "scoot", "-g", "scoot", directory])
        system.run(["systemd-analyze", "verify", "/etc/systemd/system/scoot.service"])
        yield system


def active_daemon(system: BootedSystem) -> dict[str, str]:
    """Start scoot.service if it is not running; its MainPID and NRestarts."""
    # Every test may restart it: keep StartLimitBurst=5 from refusing a later test's start.
    system.systemctl("reset-failed", "scoot.service", check=False)
    system.systemctl("start", "scoot.service")
    return system.show("scoot.service", "MainPID", "NRestarts", "ActiveState")


def daemon_state(system: BootedSystem) -> dict[str, Any] | None:
    path = system.path(f"{HOME}/state/daemon.json")
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def lock_is_held(system: BootedSystem) -> bool:
    """Someone holds state/daemon.lock (asked as scoot, so a missing file is made scoot's)."""
    probe = [
        "flock",
        "--nonblock",
        "--conflict-exit-code",
        "75",
        f"{HOME}/state/daemon.lock",
        "true",
    ]
    return system.run(probe, user="scoot", check=False).returncode == 75


def restarted(system: BootedSystem, before: dict[str, str]) -> dict[str, str]:
    """Wait for systemd to have restarted the daemon: a new MainPID, one more NRestarts."""

    def check() -> dict[str, str] | None:
        now = system.show("scoot.service", "MainPID", "NRestarts", "ActiveState", "SubState")
        moved = now["MainPID"] not in ("0", before["MainPID"])
        if moved and now["ActiveState"] == "active" and now["SubState"] == "running":
            return now
        return None

    # RestartSec=5s, then the daemon's own start: generous for a loaded machine.
    return wait_until("systemd to restart scoot.service", check, 60, 0.2)


# --- daemon mode ---------------------------------------------------------------------------


def test_the_daemon_is_active_only_once_it_says_ready(daemon_system: BootedSystem) -> None:
    system = daemon_system
    # 1. A daemon that runs but never sends READY=1: another process holds the runtime
    # directory's lock, so scoot refuses and exits 1. Under Type=simple or Type=exec the unit
    # would have been active from its fork or exec on; under Type=notify it never is.
    system.run(
        [
            "systemd-run",
            "--unit=lock-holder",
            "--property=User=scoot",
            "flock",
            f"{HOME}/state/daemon.lock",
            "sleep",
            "infinity",
        ]
    )
    wait_until("the lock holder to hold the lock", lambda: lock_is_held(system), 20)
    refused = system.run(["systemctl", "start", "scoot.service"], check=False, timeout=60)
    assert refused.returncode != 0
    shown = system.show(
        "scoot.service", "ActiveEnterTimestampMonotonic", "ExecMainStatus", "ExecMainPID"
    )
    assert shown["ExecMainPID"] != "0", "the daemon process did run"
    assert shown["ExecMainStatus"] == "1", shown
    assert shown["ActiveEnterTimestampMonotonic"] == "0", "it was never active"
    system.systemctl("stop", "scoot.service", "lock-holder.service")  # no auto-restart
    system.systemctl("reset-failed", "scoot.service", check=False)

    # 2. While its process exists but cannot run (system.slice frozen through the kernel's
    # cgroup freezer), the unit stays activating; once thawed, it turns active only after the
    # daemon has done what precedes READY=1: loaded its jobs, taken the lock, written its state.
    freeze = system.cgroup / "boot" / "system.slice" / "cgroup.freeze"
    freeze.write_text("1")
    try:
        system.systemctl("start", "--no-block", "scoot.service")
        wait_until(
            "scoot.service's process",
            lambda: system.show("scoot.service", "MainPID")["MainPID"] != "0",
            20,
        )
        for _ in range(10):
            assert system.show("scoot.service", "ActiveState")["ActiveState"] == "activating"
            time.sleep(0.2)
        # Read before the thaw: nothing the daemon does can come earlier. One clock for
        # host and boot: CLOCK_MONOTONIC is not namespaced here.
        thawed_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    finally:
        freeze.write_text("0")
    wait_until(
        "scoot.service to be active",
        lambda: system.show("scoot.service", "ActiveState")["ActiveState"] == "active",
        60,
    )
    shown = system.show("scoot.service", "MainPID", "ActiveEnterTimestampMonotonic", "StatusText")
    assert int(shown["ActiveEnterTimestampMonotonic"]) > thawed_usec, shown
    state = daemon_state(system)
    assert state is not None and state["status"] == "running", state
    assert str(state["pid"]) == shown["MainPID"], (state, shown)
    assert lock_is_held(system)
    # NotifyAccess=main: this text only comes from the daemon's own notifications.
    assert re.match(r"2 jobs\b", shown["StatusText"]), shown


def test_reload_rereads_the_configuration(daemon_system: BootedSystem) -> None:
    system = daemon_system
    before = active_daemon(system)
    append_jobs(system, RELOADED_JOB)
    system.systemctl("reload", "scoot.service")
    wait_until(
        "the config_reload audit event",
        lambda: [
            e for e in jsonl(system, f"{HOME}/logs/audit.jsonl") if e.get("kind") == "config_reload"
        ],
        30,
    )
    wait_until("the added job's run to end", lambda: runs_of(system, "added-by-reload"), 60)
    assert runs_of(system, "added-by-reload")[-1]["status"] == "ok"
    after = system.show("scoot.service", "MainPID", "NRestarts", "StatusText", "ActiveState")
    assert after["MainPID"] == before["MainPID"], "a reload is not a restart"
    assert after["NRestarts"] == before["NRestarts"]
    assert after["ActiveState"] == "active"
    assert after["StatusText"].startswith("3 jobs"), after


def test_hardening_stops_writes_outside_the_state_directory(daemon_system: BootedSystem) -> None:
    system = daemon_system
    active_daemon(system)
    # write-probe is an unrestricted job: scoot's own sandbox lets it write anywhere, so
    # whatever it cannot write, the unit's settings refused.
    wait_until("the write-probe run to end", lambda: runs_of(system, "write-probe"), 60)
    assert runs_of(system, "write-probe")[-1]["status"] == "ok"
    report = system.path(PROBE_REPORT).read_text()
    lines = dict(line.split(" ", 1) for line in report.splitlines() if line.startswith("/"))
    for directory in GUARDED_DIRS:
        outcome = lines[f"{directory}/f"]
        assert outcome.startswith("refused") and "Read-only file system" in outcome, report
        assert not system.path(f"{directory}/f").exists()
    assert lines["/etc/scoot-probe-file"].startswith("refused"), report
    assert lines[f"{HOME}/probe-written"] == "written", report
    assert system.path(f"{HOME}/probe-written").exists()
    # PrivateTmp=yes: the job could write /tmp, but not the system's /tmp.
    assert lines["/tmp/scoot-probe"] == "written", report
    assert not system.path("/tmp/scoot-probe").exists()
    # User=scoot and NoNewPrivileges=yes reach the job's own processes.
    uid = system.run(["id", "-u", "scoot"]).stdout.strip()
    assert re.search(rf"^Uid:\s+{uid}\s", report, re.MULTILINE), report
    assert re.search(r"^NoNewPrivs:\s+1$", report, re.MULTILINE), report


@pytest.mark.parametrize(
    ("directive", "controller", "cgroup_file", "expected"),
    [
        ("MemoryMax=2G", "memory", "memory.max", "2147483648"),
        ("TasksMax=512", "pids", "pids.max", "512"),
        ("CPUQuota=200%", "cpu", "cpu.max", "200000 100000"),
    ],
)
def test_resource_ceilings_apply(
    daemon_system: BootedSystem, directive: str, controller: str, cgroup_file: str, expected: str
) -> None:
    system = daemon_system
    active_daemon(system)
    group = system.show("scoot.service", "ControlGroup")["ControlGroup"]
    ceiling = system.path(f"/sys/fs/cgroup{group}/{cgroup_file}")
    if not ceiling.exists():
        # The booted systemd can only apply what the host's cgroup2 tree hands down.
        offered = system.path("/sys/fs/cgroup/cgroup.controllers").read_text().split()
        reason = (
            f"{directive} not checked: this machine gives no cgroup2 '{controller}' controller "
            f"to the booted systemd (it has: {' '.join(offered) or 'none'})"
        )
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    assert ceiling.read_text().strip() == expected


def test_a_killed_daemon_is_restarted(daemon_system: BootedSystem) -> None:
    system = daemon_system
    before = active_daemon(system)
    system.run(["kill", "-KILL", before["MainPID"]])
    after = restarted(system, before)
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1
    result = system.journal("scoot.service")
    assert "status=9/KILL" in result, result[-2000:]


def test_a_stuck_daemon_is_killed_by_the_watchdog_and_restarted(
    daemon_system: BootedSystem,
) -> None:
    system = daemon_system
    # The only change to the shipped unit: a shorter WatchdogSec, to wait seconds, not minutes.
    watchdog_sec = 5
    system.write(
        "/etc/systemd/system/scoot.service.d/watchdog.conf",
        f"[Service]\nWatchdogSec={watchdog_sec}\n",
    )
    system.systemctl("daemon-reload")
    system.systemctl("reset-failed", "scoot.service", check=False)
    system.systemctl("restart", "scoot.service")  # WATCHDOG_USEC is given at start
    before = system.show("scoot.service", "MainPID", "NRestarts", "WatchdogUSec")
    assert before["WatchdogUSec"] == f"{watchdog_sec}s"
    # A daemon that pings is left alone well past the watchdog period.
    time.sleep(watchdog_sec * 1.6)
    still = system.show("scoot.service", "MainPID", "NRestarts", "ActiveState")
    assert (still["MainPID"], still["NRestarts"]) == (before["MainPID"], before["NRestarts"])
    assert still["ActiveState"] == "active"
    # A stopped one no longer pings: systemd kills it and Restart=on-failure starts another.
    system.run(["kill", "-STOP", before["MainPID"]])
    after = restarted(system, before)
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1
    journal = system.journal("scoot.service")
    assert "Watchdog timeout" in journal, journal[-2000:]
    system.run(["rm", "/etc/systemd/system/scoot.service.d/watchdog.conf"])
    system.systemctl("daemon-reload")


def test_stop_drains_and_exits_cleanly(daemon_system: BootedSystem) -> None:
    system = daemon_system
    active_daemon(system)
    system.systemctl("stop", "scoot.service")
    shown = system.show("scoot.service", "ActiveState", "Result", "ExecMainStatus")
    assert (shown["ActiveState"], shown["Result"], shown["ExecMainStatus"]) == (
        "inactive",
        "success",
        "0",
    ), shown
    state = daemon_state(system)
    assert state is not None and state["status"] == "stopped", state
    assert state["stop_reason"] == "signal:SIGTERM", state


# --- timer mode ----------------------------------------------------------------------------


def test_the_timer_fires_the_tick_and_a_failed_run_marks_it_failed(
    timer_system: BootedSystem,
) -> None:
    system = timer_system
    # Enabled when the module started; it fires at second 0 of the next minute.
    wait_until(
        "the timer's first activation to finish",
        lambda: (
            runs_of(system, "tick-ok")
            and runs_of(system, "tick-fails")
            and system.show("scoot-schedule.service", "ActiveState")["ActiveState"]
            in ("failed", "inactive")
        ),
        90,
        0.5,
    )
    timer = system.show("scoot-schedule.timer", "LastTriggerUSec", "ActiveState")
    assert timer["ActiveState"] == "active"
    assert timer["LastTriggerUSec"] not in ("", "0", "n/a"), timer
    assert runs_of(system, "tick-ok")[-1]["status"] == "ok"
    assert runs_of(system, "tick-fails")[-1]["status"] != "ok"
    assert system.systemctl("is-failed", "scoot-schedule.service", check=False) == "failed"
    shown = system.show("scoot-schedule.service", "Result", "ExecMainStatus")
    assert shown == {"Result": "exit-code", "ExecMainStatus": "1"}, shown
    history = scoot_as_user(system, "schedule", "history")
    assert "tick-ok" in history and "tick-fails" in history, history


def test_nothing_is_left_behind_after_a_boot(venv: Path) -> None:
    with BootedSystem("leftovers", binds=[venv]) as system:
        cgroup = system.cgroup
        run_dir = system.run_dir
        pid = system.pid
        system.run(["systemd-run", "--unit=long-sleeper", "sleep", "infinity"])
    assert pid is not None
    assert not cgroup.exists()
    assert not run_dir.exists()
    assert (
        not Path(f"/proc/{pid}").exists()
        or str(cgroup.name) not in Path(f"/proc/{pid}/cgroup").read_text()
    )
