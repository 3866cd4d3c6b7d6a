"""The daemon killed with SIGKILL at random moments of a busy schedule, again and again.

Each trial starts the daemon on the same runtime directory, lets it fire
for a random while and kills it. Its workers must end within a second
(PR_SET_PDEATHSIG), the next start must print the recovery warning, and
across all trials no one-shot fires twice, no cron minute runs twice,
every started run is recorded exactly once and every line parses.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from scoot.testing.model_server import ScriptedModel
from tests.faults.support import (
    account_runs,
    check_records,
    descendants,
    start_daemon,
    survivors,
    tally,
    trials,
)
from tests.helpers import (
    audit,
    ledger_jobs,
    read_jsonl,
    run_scoot,
    runs,
    write_config,
)

SCENARIO = "daemon killed -9"
RECOVERY_WARNING = "did not stop cleanly; recovering"
TORN = b'{"seq": 999999, "ts": 1, "kind": "torn-by-a-cras'

SCRIPT = {
    "rules": [
        {"match": "^quick$", "steps": [{"final": "quick", "delay_ms": 50}]},
        {"match": "^slow$", "steps": [{"final": "slow", "delay_ms": 1500}]},
    ],
    "default": [{"final": "done", "delay_ms": 300}],
}


def jobs(now: float) -> list[dict[str, object]]:
    return [
        {"id": "quick", "goal": "quick", "every_sec": 1},
        {"id": "slow", "goal": "slow", "every_sec": 2},
        {"id": "minutely", "goal": "minute", "cron": "* * * * *"},
        {"id": "once-now", "goal": "once", "at_unix": now},
        {"id": "once-soon", "goal": "once", "at_unix": now + 1.5},
        {"id": "once-later", "goal": "once", "at_unix": now + 4},
    ]


@pytest.mark.timeout(300)
def test_kill_9_at_random_moments_loses_and_doubles_nothing(tmp_path: Path) -> None:
    count = trials(3, 20)
    rng = random.Random(int(os.environ.get("SCOOT_FAULT_SEED", "7")))
    home = tmp_path / "home"
    audit_log = home / "logs" / "audit.jsonl"
    torn_crafted = 0
    with ScriptedModel(SCRIPT) as model:
        write_config(
            home,
            base_url=model.base_url,
            schedule={"max_concurrent": 4},
            sections={"backend": {"timeout_ms": 60000}},
            jobs=jobs(time.time()),
        )
        for trial in range(count):
            daemon = start_daemon(home)
            time.sleep(rng.uniform(0.05, 1.5))
            workers = descendants(daemon.pid)
            daemon.kill()
            _, err = daemon.communicate(timeout=10)
            if trial > 0:
                assert RECOVERY_WARNING in err, err
            assert "Traceback" not in err
            # PR_SET_PDEATHSIG: the workers die with their daemon.
            assert survivors(workers, within=1.0) == []
            # Whatever the kill interrupted, the log holds whole lines only.
            read_jsonl(audit_log)
            if trial % 2 == 0:
                # A crash can tear the last line of a write; craft one and make sure
                # the next start sets it aside instead of gluing a new line to it.
                with open(audit_log, "ab") as handle:
                    handle.write(TORN)
                torn_crafted += 1
            tally(SCENARIO).trials += 1
        final = run_scoot(home, "daemon", "run", "--ticks", "2")
    assert RECOVERY_WARNING in final.stderr, final.stderr
    assert "Traceback" not in final.stdout + final.stderr

    recorded = runs(home)
    ledger = ledger_jobs(home)
    for one_shot in ("once-now", "once-soon", "once-later"):
        fired = [r for r in recorded if r["job_id"] == one_shot]
        assert len(fired) <= 1, fired
        if fired:  # and the ledger holds it decided, so no later start fires it again
            assert ledger[one_shot]["last_instant"] == fired[0]["instant"]
    minutes = [r["instant"] for r in recorded if r["job_id"] == "minutely"]
    assert len(minutes) == len(set(minutes))
    if minutes:
        assert ledger["minutely"]["last_instant"] >= max(minutes)
    # Runs the kills cut short are recorded interrupted, never replayed.
    assert any(r["status"] == "interrupted" for r in recorded)

    torn_file = audit_log.with_name("audit.jsonl.torn")
    if torn_crafted:
        assert torn_file.read_bytes().count(TORN + b"\n") == torn_crafted
    events = audit(home)
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    check_records(home, SCENARIO)
    assert account_runs(home, SCENARIO) == (0, 0)
    tally(SCENARIO).faults_survived += count


@pytest.mark.timeout(60)
def test_torn_tails_of_runs_and_sessions_are_set_aside(tmp_path: Path) -> None:
    """A crash mid-append can tear any JSONL file's last line, not only the audit log's."""
    home = tmp_path / "home"
    runs_file = home / "state" / "runs.jsonl"
    session = home / "state" / "sessions" / "job-quick.jsonl"
    with ScriptedModel(SCRIPT) as model:
        write_config(home, base_url=model.base_url, jobs=[jobs(time.time())[0]])
        first = run_scoot(home, "schedule", "run", "--ticks", "1")
        assert first.returncode == 0, first.stderr
        for path in (runs_file, session):
            with open(path, "ab") as handle:
                handle.write(b'{"run_id": "torn-by-a-cr')
        time.sleep(1.0)  # the next one-second instant is due
        second = run_scoot(home, "schedule", "run", "--ticks", "1")
    assert second.returncode == 0, second.stderr
    assert len(read_jsonl(runs_file)) == 2
    assert read_jsonl(session)
    for path in (runs_file, session):
        aside = path.with_name(path.name + ".torn")
        assert aside.read_bytes() == b'{"run_id": "torn-by-a-cr\n', path
    check_records(home, SCENARIO)
    counts = tally(SCENARIO)
    counts.trials += 1
    counts.faults_survived += 2


def test_workers_die_within_a_second_of_their_daemon(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ScriptedModel({"default": [{"final": "late", "delay_ms": 30000}]}) as model:
        write_config(
            home,
            base_url=model.base_url,
            sections={"backend": {"timeout_ms": 60000}},
            jobs=[{"id": f"long-{n}", "goal": "g", "every_sec": 3600} for n in range(3)],
        )
        daemon = start_daemon(home)
        deadline = time.monotonic() + 10
        while len(descendants(daemon.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        workers = descendants(daemon.pid)
        assert len(workers) >= 3
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.communicate(timeout=10)
        # Far below the workers' own hour: they died with the daemon.
        assert survivors(workers, within=20.0) == []
    counts = tally(SCENARIO)
    counts.trials += 1
    counts.faults_survived += 1
