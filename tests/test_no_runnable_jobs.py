"""A config with nothing runnable keeps a daemon alive and says so; CI and timers see red."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from scoot.testing.model_server import ScriptedModel
from tests.helpers import run_scoot as run
from tests.helpers import runs, start_scoot, stop, wait_for, write_config
from tests.test_sdnotify import NotifySocket

TYPO = {"id": "typo", "goal": "say ok", "cron": "*/5 * * *"}


def test_daemon_with_a_typo_waits_says_so_and_runs_the_fixed_job_after_reload(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    listener = NotifySocket(str(tmp_path / "notify"))
    with ScriptedModel({"default": [{"final": "fixed"}]}) as model:
        write_config(home, base_url=model.base_url, jobs=[TYPO])
        proc = start_scoot(home, "daemon", "run", NOTIFY_SOCKET=listener.address)
        try:
            _, _, ready = listener.wait_for(lambda f: f.get("READY") == "1", timeout=15)
            assert "no runnable jobs" in ready["STATUS"] and "reload" in ready["STATUS"]
            time.sleep(1.0)  # several polls: a dead daemon would have exited by now
            assert proc.poll() is None
            write_config(
                home,
                base_url=model.base_url,
                jobs=[
                    {"id": "typo", "goal": "say ok", "cron": "* * * * *", "catch_up": "once"},
                    {"id": "now", "goal": "say ok", "every_sec": 3600},
                ],
            )
            proc.send_signal(signal.SIGHUP)
            _, _, reloaded = listener.wait_for(
                lambda f: f.get("READY") == "1" and "2 jobs" in f.get("STATUS", ""), timeout=10
            )
            wait_for(lambda: any(r["job_id"] == "now" for r in runs(home)), timeout=20)
        finally:
            out, err = stop(proc)
            listener.close()
    assert proc.returncode == 0
    assert "[scoot] no runnable jobs (1 invalid job: typo); waiting: fix the config" in err
    assert "[scoot] reloaded: 2 jobs" in err
    state = json.loads((home / "state" / "daemon.json").read_text())
    assert state["stop_reason"] == "signal:SIGTERM"  # it ran until stopped, not `loop_end`


def test_schedule_run_without_ticks_keeps_waiting(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[TYPO])
    proc = start_scoot(home, "schedule", "run")
    try:
        # The invalid job's config_warning is recorded once the loop has set up.
        audit_log = home / "logs" / "audit.jsonl"
        wait_for(lambda: audit_log.exists() or proc.poll() is not None)
        time.sleep(1.0)
        assert proc.poll() is None
    finally:
        out, err = stop(proc)
    assert "[scoot] schedule run started (" in out and "0 runnable jobs" in out
    assert f"home={home}" in out
    assert "no runnable jobs (1 invalid job: typo)" in err


def test_ticks_run_the_valid_jobs_then_exit_1_naming_the_invalid_ones(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "ok"}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            jobs=[TYPO, {"id": "good", "goal": "say ok", "every_sec": 3600}, {"goal": "no id"}],
        )
        done = run(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 1, done
    assert [r["job_id"] for r in runs(home)] == ["good"]
    assert [r["status"] for r in runs(home)] == ["ok"]
    assert "[scoot] failing: 2 invalid jobs: typo, #3 (not run)" in done.stderr
    assert "[scoot] next fire: job good at " in done.stdout


def test_ticks_with_no_job_at_all_is_not_a_failure(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    done = run(home, "schedule", "run", "--ticks", "1")
    assert done.returncode == 0, done
    assert "no runnable jobs (none configured)" in done.stderr


def test_config_check_exit_codes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, jobs=[{"id": "ok", "goal": "g", "every_sec": 60}])
    clean = run(home, "config", "check")
    assert clean.returncode == 0, clean
    assert clean.stdout.splitlines()[-1].startswith("config check: OK ")
    assert "1 valid job, 0 invalid" in clean.stdout

    write_config(home, jobs=[{"id": "ok", "goal": "g", "every_sec": 60, "colour": "red"}])
    unknown = run(home, "config", "check")
    assert unknown.returncode == 1
    assert "PROBLEM job 'ok': unknown key 'colour' (known: " in unknown.stdout

    write_config(home, jobs=[TYPO], sections={"backend": {"modle": "x"}})
    broken = run(home, "config", "check", "--json")
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    assert any("typo" in p and "invalid cron" in p for p in report["problems"])
    assert any("unknown key [backend] modle" in p for p in report["problems"])

    # A bad variable is the environment's problem, not the file's: noted, still exit 0.
    write_config(home, jobs=[{"id": "ok", "goal": "g", "every_sec": 60}])
    noted = run(home, "config", "check", SCOOT_SCHEDULE_POLL_MS="fast")
    assert noted.returncode == 0 and "NOTE    SCOOT_SCHEDULE_POLL_MS='fast'" in noted.stdout

    (home / "config.toml").write_text("[schedule\n")
    unreadable = run(home, "config", "check")
    assert unreadable.returncode == 2
    assert unreadable.stderr.count("\n") == 1 and "config.toml:1:" in unreadable.stderr
    (home / "config.toml").unlink()
    missing = run(home, "config", "check")
    assert missing.returncode == 2 and "no config file in" in missing.stderr
