"""A full disk under a running daemon: it reports, keeps running, recovers, never half-writes.

`logs/` and `state/` are tiny tmpfs mounts (this needs root; the test is
skipped, saying why, where mount is not permitted). Filling them makes
every write the daemon does fail with ENOSPC: audit events, session lines,
runs.jsonl, the ledger, daemon.json. Meanwhile a reader checks that
daemon.json and ledger.json always parse.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
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
)
from tests.helpers import (
    audit,
    runs,
    stop,
    wait_for,
    write_config,
)

SCENARIO = "disk full"


@contextmanager
def tiny_filesystems(*directories: Path, size: str = "256k") -> Iterator[None]:
    mounted: list[Path] = []
    try:
        for directory in directories:
            directory.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(directory)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); run as root")
            mounted.append(directory)
        yield
    finally:
        for directory in reversed(mounted):
            subprocess.run(["umount", "-l", str(directory)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem is full; returns it (delete it to free the space)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    block = b"\0" * 4096
    try:
        while True:
            os.write(fd, block)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return filler


class StateWatcher(threading.Thread):
    """Reads daemon.json and ledger.json in a loop; every read must parse."""

    def __init__(self, home: Path) -> None:
        super().__init__(daemon=True)
        self.files = [home / "state" / "daemon.json", home / "state" / "ledger.json"]
        self.reads = 0
        self.torn: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for path in self.files:
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                try:
                    json.loads(data)
                    self.reads += 1
                except ValueError:
                    self.torn.append(f"{path.name}: {data[:80]!r}")
            time.sleep(0.002)


def workers_of(pid: int, title: str) -> list[int]:
    found = []
    for child in psutil.Process(pid).children():
        try:
            if title in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.timeout(120)
def test_enospc_on_logs_and_state_is_reported_survived_and_recovered(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = {
        # The slow run's last lines are longer than a page together (the audit log clips
        # each to about 2 KB), so no page's slack can take them.
        "rules": [
            {
                "match": "^slow$",
                "steps": [{"thought": "s" * 2000, "final": "slow " * 1200, "delay_ms": 1200}],
            }
        ],
        "default": [{"thought": "t" * 2000, "action": "final", "action_input": "ok"}],
    }
    jobs = [{"id": f"tick-{n}", "goal": f"tick-{n}", "every_sec": 1} for n in range(3)]
    jobs.append({"id": "slow", "goal": "slow", "every_sec": 2})
    with ScriptedModel(script) as model:
        write_config(home, base_url=model.base_url, jobs=jobs)
        with tiny_filesystems(home / "logs", home / "state"):
            daemon = start_daemon(home)
            watcher = StateWatcher(home)
            watcher.start()
            try:
                wait_for(lambda: len(runs(home)) >= 3)
                # 1. Both filesystems fill up while a slow run is in flight: its record,
                # its transcript, its audit events and its release from the ledger all fail.
                wait_for(lambda: workers_of(daemon.pid, "job slow"))
                log_filler = fill(home / "logs")
                state_filler = fill(home / "state")
                daemon.send_signal(signal.SIGHUP)  # a reload tries to rewrite daemon.json
                time.sleep(2.5)
                assert daemon.poll() is None
                # 2. Space returns: the daemon picks up where it was.
                log_filler.unlink()
                state_filler.unlink()
                recovered_at = time.time()
                wait_for(
                    lambda: [r for r in runs(home) if r["started_at"] > recovered_at], timeout=10
                )
                wait_for(
                    lambda: [
                        e
                        for e in audit(home)
                        if e["kind"] == "job_start" and e["ts"] / 1000 > recovered_at
                    ],
                    timeout=10,
                )
                # The reload's note in daemon.json lasts only until the next state write, which a
                # loaded machine's watcher can miss: wait on what stays, the audit event and the
                # rewritten file.
                reload_sent = time.time()
                daemon.send_signal(signal.SIGHUP)
                wait_for(
                    lambda: [
                        e
                        for e in audit(home)
                        if e["kind"] == "config_reload" and e["ts"] / 1000 > reload_sent
                    ]
                )
                wait_for(lambda: (home / "state" / "daemon.json").stat().st_mtime > reload_sent)
                out, err = stop(daemon)
            finally:
                watcher.done.set()
                watcher.join()
                if daemon.poll() is None:
                    stop(daemon)
            assert daemon.returncode == 0, err
            assert "Traceback" not in out + err
            # Reported once per failure, and the recovery too.
            for failure in (
                "cannot write audit log",
                "cannot write the ledger",
                "cannot update daemon state",
                "run records are kept and retried",
                "cannot write session file",
            ):
                assert 1 <= err.count(failure) <= 2, err
            assert "writable again" in err, err
            assert watcher.torn == [] and watcher.reads > 100
            assert daemon_state(home)["status"] == "stopped"
            check_records(home, SCENARIO)
            lost, doubled = account_runs(home, SCENARIO)
            # The model saw every run that started: each of them must have its record.
            recorded = Counter(row["job_id"] for row in runs(home))
            asked = Counter(r.goal for r in model.requests if r.turn == 0)
            lost += sum(max(0, asked[job["goal"]] - recorded[job["id"]]) for job in jobs)
    tally(SCENARIO).runs_lost += lost
    assert (lost, doubled) == (0, 0), (asked, recorded)
    counts = tally(SCENARIO)
    counts.trials += 1
    counts.faults_survived += 2
    counts.lines_checked += watcher.reads


@pytest.mark.timeout(60)
def test_a_full_disk_warns_once_per_outage_and_once_on_recovery(tmp_path: Path) -> None:
    """Short lines still fit in a page's slack while long ones fail: that is no recovery."""
    from scoot.records.audit import AuditLog, Redactor
    from scoot.records.recorder import Recorder

    home = tmp_path / "home"
    write_config(home)
    warnings: list[str] = []
    with tiny_filesystems(home / "logs", home / "state"):
        from scoot.instance.open import open_instance
        from scoot.records.audit import SessionLog

        instance = open_instance(str(home))
        log = AuditLog(instance.home.audit_log, Redactor(), on_error=warnings.append)
        recorder = Recorder(
            instance.home,
            log,
            SessionLog(instance.home.sessions, Redactor()),
            warn=warnings.append,
        )
        log.event("first", "before the disk fills")
        recorder.write_run({"run_id": "r0", "status": "ok"})
        fillers = [fill(home / "logs"), fill(home / "state")]
        for number in range(300):
            log.event("short", "s")
            log.event("long", "x" * 6000)
            recorder.write_run({"run_id": f"r{number}", "status": "ok", "pad": "p" * (number % 7)})
        during = list(warnings)
        for filler in fillers:
            filler.unlink()
        log.event("after", "space is back")
        recorder.write_run({"run_id": "last", "status": "ok"})
        log.close()
    assert sum("cannot write audit log" in w for w in during) == 1, during
    assert sum("cannot write" in w and "runs.jsonl" in w for w in during) == 1, during
    assert not any("writable again" in w for w in during), during
    after = warnings[len(during) :]
    assert sum("writable again" in w for w in after) == 2, after
