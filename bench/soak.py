"""Soak: a daemon under a mixed schedule and random faults for minutes; nothing may be lost.

Run: python bench/soak.py [--minutes 5] [--jobs 200] [--seed 1] [--dir DIR]

Jobs of every trigger kind run against the scripted model: quick answers,
slow ones, backend errors, hangs past the timeout, denied writes, and
unrestricted runs whose shell kills its worker, floods its output pipe,
forges frames or leaves a process behind. Every few seconds a fault hits
the daemon itself: a worker killed with SIGKILL, a SIGHUP reload, a
SIGTERM storm or a SIGKILL of the daemon, each followed by a restart.
At the end it prints the duration, the job count, runs by status, runs
lost and doubled, the lines checked and the daemon's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoot.testing.model_server import ScriptedModel  # noqa: E402
from tests.faults.support import (  # noqa: E402
    account_runs,
    check_records,
    daemon_state,
    descendants,
    figures_table,
    runs,
    survivors,
    tally,
)
from tests.helpers import start_scoot, stop, wait_for, write_config  # noqa: E402

SCENARIO = "soak"
MIB = 1 << 20


def shell(command: str, answer: str) -> list[dict[str, Any]]:
    return [{"thought": "run it", "action": "bash", "action_input": command}, {"final": answer}]


SCRIPT = {
    "rules": [
        {"match": "^quick", "steps": [{"final": "quick answer"}]},
        {"match": "^slow", "steps": [{"final": "slow answer", "delay_ms": 2500}]},
        {"match": "^flaky", "steps": [{"final": "ok in the end", "status": 503, "fail_times": 1}]},
        {"match": "^broken", "steps": [{"status": 500}]},
        {"match": "^hang", "steps": [{"hang": True}]},
        {"match": "^garbled", "steps": [{"raw": "Sure! Let me look."}, {"final": "done"}]},
        {
            "match": "^deny",
            "steps": [
                {"action": "file_write", "action_input": '{"path": "x", "content": "y"}'},
                {"final": "gave up"},
            ],
        },
        {"match": "^suicide", "steps": shell("kill -9 $PPID; sleep 5", "unreachable")},
        {
            "match": "^flood",
            "steps": shell(f"head -c {64 * MIB} /dev/zero > /proc/$PPID/fd/1", "flooded"),
        },
        {
            "match": "^forger",
            "steps": shell(
                'printf \'garbage\\n{"type":"surprise"}\\n\' > /proc/$PPID/fd/4', "forged"
            ),
        },
        {
            "match": "^escapee",
            "steps": shell("setsid -f sleep 3600 >/dev/null 2>&1 </dev/null", "escaped"),
        },
    ]
}
# Job kinds by weight; unrestricted ones may run the shell.
KINDS = [
    ("quick", 40, "readonly"),
    ("slow", 8, "readonly"),
    ("flaky", 8, "readonly"),
    ("broken", 4, "readonly"),
    ("hang", 3, "readonly"),
    ("garbled", 5, "readonly"),
    ("deny", 5, "readonly"),
    ("suicide", 3, "unrestricted"),
    ("flood", 2, "unrestricted"),
    ("forger", 3, "unrestricted"),
    ("escapee", 2, "unrestricted"),
]


def make_jobs(count: int, minutes: float, rng: random.Random) -> list[dict[str, Any]]:
    names = [kind for kind, weight, _ in KINDS for _ in range(weight)]
    modes = {kind: mode for kind, _, mode in KINDS}
    jobs = []
    for number in range(count):
        kind = rng.choice(names)
        job: dict[str, Any] = {
            "id": f"{kind}-{number}",
            "goal": f"{kind} {number}",
            "mode": modes[kind],
            "timeout_sec": 4,
        }
        trigger = rng.random()
        if trigger < 0.5:
            job["every_sec"] = rng.choice([2, 3, 5, 10, 20, 30, 60])
        elif trigger < 0.8:
            job["cron"] = rng.choice(["* * * * *", "*/2 * * * *", "*/3 * * * *"])
        else:
            job["at_unix"] = time.time() + rng.uniform(0, minutes * 60)
        jobs.append(job)
    return jobs


class Daemon:
    """The daemon under test: started, watched, killed and restarted."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc: subprocess.Popen[str] | None = None
        self.peak_rss = 0
        self.starts = 0
        self.stderr: list[str] = []

    def start(self) -> None:
        self.proc = start_scoot(self.home, "daemon", "run")
        self.starts += 1

        def running() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.proc.communicate()
            state = daemon_state(self.home) or {}
            return state.get("status") == "running" and state.get("pid") == self.proc.pid

        wait_for(running, timeout=30)

    def sample(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.peak_rss = max(self.peak_rss, psutil.Process(self.proc.pid).memory_info().rss)
            except psutil.Error:
                pass

    def end(self, how: str) -> tuple[int | None, list[int], list[int]]:
        """Stop it by `how` (term, storm, kill).

        Returns its exit code, its workers, and the other processes below it
        (the shells of runs and what escaped them).
        """
        assert self.proc is not None
        workers = workers_of(self.proc.pid)
        others = [pid for pid in descendants(self.proc.pid) if pid not in workers]
        if how == "kill":
            self.proc.kill()
        elif how == "storm":
            for _ in range(200):
                if self.proc.poll() is not None:
                    break
                try:
                    os.kill(self.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    break
        if how == "kill":
            _, err = self.proc.communicate(timeout=30)
        else:
            _, err = stop(self.proc, timeout=60)
        self.stderr.append(err)
        return self.proc.returncode, workers, others


def workers_of(pid: int) -> list[int]:
    """The daemon's workers: its children titled `scoot: job ...`."""
    found = []
    try:
        children = psutil.Process(pid).children()
    except psutil.Error:
        return found
    for child in children:
        try:
            if " ".join(child.cmdline()).startswith("scoot: job"):
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


def soak(minutes: float, job_count: int, seed: int, directory: Path | None) -> int:
    rng = random.Random(seed)
    root = directory or Path(tempfile.mkdtemp(prefix="scoot-soak-"))
    home = root / "home"
    jobs = make_jobs(job_count, minutes, rng)
    faults: Counter[str] = Counter()
    problems: list[str] = []
    orphaned: set[int] = set()  # run processes left when a daemon was killed -9
    started = time.monotonic()
    with ScriptedModel(SCRIPT) as model:
        write_config(
            home,
            base_url=model.base_url,
            schedule={"max_concurrent": 16, "shutdown_grace_sec": 2, "kill_grace_sec": 1},
            sections={"backend": {"timeout_ms": 10000, "retries": 1}},
            jobs=jobs,
        )
        daemon = Daemon(home)
        daemon.start()
        deadline = started + minutes * 60
        next_fault = time.monotonic() + rng.uniform(3, 10)
        while time.monotonic() < deadline:
            time.sleep(0.25)
            daemon.sample()
            if time.monotonic() < next_fault:
                continue
            next_fault = time.monotonic() + rng.uniform(3, 10)
            fault = rng.choice(["worker", "worker", "hup", "storm", "kill"])
            faults[fault] += 1
            if fault == "worker":
                victims = descendants(daemon.proc.pid) if daemon.proc else []
                if victims:
                    try:
                        os.kill(rng.choice(victims), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            elif fault == "hup" and daemon.proc:
                daemon.proc.send_signal(signal.SIGHUP)
            else:
                code, workers, others = daemon.end(fault)
                left = survivors(workers, within=1.0 if fault == "kill" else 5.0)
                if left:
                    problems.append(f"{len(left)} worker(s) outlived a {fault} of the daemon")
                if fault == "kill":
                    # A worker's own children have no death signal: only the service
                    # manager's control group (systemd, a container) can end them now.
                    orphaned.update(survivors(others, within=0.0))
                else:
                    left = survivors(others, within=1.0)
                    if left:
                        problems.append(f"{len(left)} run process(es) outlived a {fault}")
                if fault == "storm" and code != 0:
                    problems.append(f"a SIGTERM storm ended the daemon with {code}")
                daemon.start()
        code, _, others = daemon.end("term")
        if code != 0:
            problems.append(f"the final stop ended the daemon with {code}")
        if survivors(others, within=1.0):
            problems.append("run processes outlived the final stop")
    took = time.monotonic() - started
    lines = check_records(home, SCENARIO)
    lost, doubled = account_runs(home, SCENARIO)
    recorded = runs(home)
    for job in jobs:
        if "at_unix" in job:
            fired = [
                r for r in recorded if r["job_id"] == job["id"] and r.get("origin") == "schedule"
            ]
            if len(fired) > 1:
                problems.append(f"one-shot {job['id']} ran {len(fired)} times")
                doubled += len(fired) - 1
    escaped = [
        p.pid
        for p in psutil.process_iter(["cmdline", "status"])
        if p.info["cmdline"] == ["sleep", "3600"] and p.info["status"] != psutil.STATUS_ZOMBIE
    ]
    unexplained = [pid for pid in escaped if pid not in orphaned]
    if unexplained:
        problems.append(f"{len(unexplained)} escaped process(es) survive a live daemon")
    left_by_kills = survivors(orphaned, within=0.0)
    for pid in left_by_kills:
        os.kill(pid, signal.SIGKILL)  # clean up after ourselves
    tracebacks = sum("Traceback" in err for err in daemon.stderr)
    if tracebacks:
        problems.append(f"{tracebacks} daemon run(s) printed a traceback")
    statuses = Counter(r["status"] for r in recorded)
    counts = tally(SCENARIO)
    counts.trials = daemon.starts
    counts.faults_survived = sum(faults.values())
    print(
        f"soak: {took / 60:.1f} min, {len(jobs)} jobs, {daemon.starts} daemon starts, home {home}"
    )
    print(f"faults injected: {dict(sorted(faults.items()))}")
    print(
        f"runs: {len(recorded)} recorded, ok {statuses.get('ok', 0)}, "
        f"failed {len(recorded) - statuses.get('ok', 0)} ({dict(sorted(statuses.items()))})"
    )
    print(f"lost: {lost}  doubled: {doubled}  lines checked: {lines}")
    print(f"daemon peak RSS: {daemon.peak_rss / MIB:.1f} MiB")
    print(
        f"run processes orphaned by kill -9 of the daemon (its service manager's job): "
        f"{len(orphaned)}, still alive at the end: {len(left_by_kills)}"
    )
    for line in figures_table():
        print(line)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 0 if not problems and lost == 0 and doubled == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="where to keep the runtime dir")
    options = parser.parse_args()
    return soak(options.minutes, options.jobs, options.seed, options.dir)


if __name__ == "__main__":
    sys.exit(main())
