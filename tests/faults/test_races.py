"""Racing starts and stops: pairs of daemons, stop against a natural exit, stale pids, signal storms."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from scoot.testing.model_server import ScriptedModel
from tests.faults.support import (
    account_runs,
    check_records,
    daemon_state,
    start_daemon,
    tally,
    trials,
    wait_running,
)
from tests.helpers import (
    audit,
    run_scoot,
    runs,
    start_scoot,
    stop,
    wait_for,
    write_config,
)

SCENARIO = "racing starts and stops"
REFUSAL = "[scoot] refusing to start: detected daemon already running"


@pytest.fixture
def model():
    with ScriptedModel({"default": [{"final": "ok", "delay_ms": 100}]}) as server:
        yield server


def assert_stopped_cleanly(home: Path) -> None:
    state = daemon_state(home)
    assert state is not None and state["status"] == "stopped", state
    assert not (home / "state" / "daemon.pid").exists()


@pytest.mark.timeout(300)
def test_daemons_started_together_exactly_one_runs_every_time(tmp_path: Path, model) -> None:
    count = trials(3, 50)
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    for _ in range(count):
        pair = [start_scoot(home, "daemon", "run") for _ in range(2)]
        loser = wait_for(lambda pair=pair: next((p for p in pair if p.poll() is not None), None))
        winner = pair[1] if loser is pair[0] else pair[0]
        _, err = loser.communicate()
        assert loser.returncode == 1 and REFUSAL in err, err
        state = wait_running(home, winner)  # the refused one wrote nothing over it
        assert state["pid"] == winner.pid
        assert winner.poll() is None
        out, err = stop(winner)
        assert winner.returncode == 0, err
        assert "Traceback" not in out + err
        assert_stopped_cleanly(home)
        tally(SCENARIO).trials += 1
    check_records(home, SCENARIO)
    assert account_runs(home, SCENARIO) == (0, 0)
    tally(SCENARIO).faults_survived += count


@pytest.mark.timeout(120)
def test_stop_racing_a_natural_exit(tmp_path: Path, model) -> None:
    count = trials(4, 20)
    rng = random.Random(5)
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "every_sec": 1}])
    for _ in range(count):
        daemon = start_daemon(home, "--ticks", "3")
        # The budget of three 100 ms ticks (plus the run's wait) ends about now.
        time.sleep(rng.uniform(0.0, 0.5))
        stopped = run_scoot(home, "daemon", "stop")
        out, err = daemon.communicate(timeout=15)
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.startswith("[scoot] ") and "Traceback" not in stopped.stderr
        assert daemon.returncode in (0, 1), (daemon.returncode, err)  # 1: a run cut short
        assert "Traceback" not in out + err
        assert_stopped_cleanly(home)
        tally(SCENARIO).trials += 1
    check_records(home, SCENARIO)
    assert account_runs(home, SCENARIO) == (0, 0)
    tally(SCENARIO).faults_survived += count


def bystander() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def write_state(home: Path, **fields: object) -> None:
    body = {
        "format": "scoot.supervise.daemon.state.v1",
        "status": "running",
        "started_at_unix": int(time.time()) - 100,
        **fields,
    }
    (home / "state" / "daemon.json").write_text(json.dumps(body))


@pytest.mark.parametrize(
    "lie",
    [
        "pid file only",  # daemon.json absent, daemon.pid names a live stranger
        "stopped state",  # daemon.json says stopped, daemon.pid names a live stranger
        "reused pid",  # daemon.json says running with the stranger's pid, another start time
        "exact identity",  # ... even with the stranger's own start time: no lock is held
    ],
)
def test_stale_pid_of_a_live_stranger_is_never_signalled(tmp_path: Path, model, lie: str) -> None:
    home = tmp_path / "home"
    write_config(home, base_url=model.base_url, jobs=[{"id": "a", "goal": "g", "every_sec": 3600}])
    (home / "state").mkdir(parents=True, exist_ok=True)
    stranger = bystander()
    try:
        started = psutil.Process(stranger.pid).create_time()
        if lie == "stopped state":
            write_state(home, status="stopped", pid=stranger.pid, pid_start_time=started)
        elif lie == "reused pid":
            write_state(home, pid=stranger.pid, pid_start_time=started - 500)
        elif lie == "exact identity":
            write_state(home, pid=stranger.pid, pid_start_time=started)
        (home / "state" / "daemon.pid").write_text(f"{stranger.pid}\n")
        status = run_scoot(home, "daemon", "status", "--json")
        # Not running (3) for a stopped state or none; dead (1) for a running one nobody holds.
        not_running = lie in ("stopped state", "pid file only")
        assert status.returncode == (3 if not_running else 1), status
        assert json.loads(status.stdout)["verdict"] != "running"
        stopped = run_scoot(home, "daemon", "stop")
        assert stopped.returncode == 0 and "nobody was signalled" in stopped.stdout, stopped
        assert not (home / "state" / "daemon.pid").exists()
        (home / "state" / "daemon.pid").write_text(f"{stranger.pid}\n")
        daemon = start_daemon(home)  # starts over the stale files, signals no one
        stop(daemon)
        assert daemon.returncode == 0
        time.sleep(0.1)
        assert stranger.poll() is None, "the stranger was signalled"
    finally:
        stranger.kill()
        stranger.wait()
    check_records(home, SCENARIO)
    counts = tally(SCENARIO)
    counts.trials += 1
    counts.faults_survived += 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("moment", ["idle", "busy"])
def test_sigterm_storm_stops_cleanly(tmp_path: Path, moment: str) -> None:
    home = tmp_path / "home"
    delay = 20000 if moment == "busy" else 0
    with ScriptedModel({"default": [{"final": "late", "delay_ms": delay}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            sections={"backend": {"timeout_ms": 60000}},
            jobs=[{"id": f"j{n}", "goal": "g", "every_sec": 3600} for n in range(3)],
        )
        for _ in range(trials(3, 10)):
            daemon = start_daemon(home)
            if moment == "busy":
                wait_for(lambda: len([e for e in audit(home) if e["kind"] == "sandbox"]) >= 3)
            sent = 0
            while daemon.poll() is None and sent < 5000:
                try:
                    os.kill(daemon.pid, signal.SIGTERM)
                except ProcessLookupError:
                    break
                sent += 1
            out, err = daemon.communicate(timeout=15)
            assert daemon.returncode == 0, (daemon.returncode, sent, err)
            assert "Traceback" not in out + err
            assert_stopped_cleanly(home)
            assert daemon_state(home)["stop_reason"] == "signal:SIGTERM"
            counts = tally(SCENARIO)
            counts.trials += 1
            counts.faults_survived += 1
            # Leave the one-hour jobs due again for the next start.
            (home / "state" / "ledger.json").unlink(missing_ok=True)
    check_records(home, SCENARIO)
    assert account_runs(home, SCENARIO) == (0, 0)
    if moment == "busy":
        assert {r["status"] for r in runs(home)} == {"interrupted"}


@pytest.mark.timeout(120)
def test_sighup_during_a_burst_of_fires_neither_drops_nor_doubles(tmp_path: Path) -> None:
    home = tmp_path / "home"
    steady = [{"id": f"tick-{n}", "goal": "g", "every_sec": 1} for n in range(6)]
    with ScriptedModel({"default": [{"final": "ok"}]}) as model:
        write_config(home, base_url=model.base_url, schedule={"max_concurrent": 8}, jobs=steady)
        daemon = start_daemon(home)
        hups = 0
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            # Every other reload adds or drops a job; the steady ones never change.
            extra = [{"id": "flicker", "goal": "g", "every_sec": 1}] if hups % 4 < 2 else []
            write_config(
                home, base_url=model.base_url, schedule={"max_concurrent": 8}, jobs=steady + extra
            )
            daemon.send_signal(signal.SIGHUP)
            hups += 1
            time.sleep(0.1)
        time.sleep(1.2)
        out, err = stop(daemon)
    assert daemon.returncode == 0, err
    assert "Traceback" not in out + err
    events = audit(home)
    assert len([e for e in events if e["kind"] == "config_reload"]) >= hups // 2
    for job in steady:
        mine = [e for e in events if e.get("job_id") == job["id"]]
        assert not [e for e in mine if e["kind"] == "job_missed"], job["id"]
        decided = sorted(e["instant"] for e in mine if e["kind"] in ("job_start", "job_skipped"))
        assert len(decided) >= 4, job["id"]
        gaps = [b - a for a, b in zip(decided, decided[1:], strict=False)]
        assert all(abs(gap - 1.0) < 1e-6 for gap in gaps), (job["id"], gaps)
    check_records(home, SCENARIO)
    assert account_runs(home, SCENARIO) == (0, 0)
    counts = tally(SCENARIO)
    counts.trials += 1
    counts.faults_survived += hups
