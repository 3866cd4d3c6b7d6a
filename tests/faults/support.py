"""Shared parts of the fault suite: trial counts, figures, record checks and daemon helpers."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import psutil

from tests.helpers import audit, ledger_jobs, read_jsonl, runs, start_scoot, wait_for

TRIALS_ENV = "SCOOT_FAULT_TRIALS"


def trials(default: int, full: int) -> int:
    """How many trials a scenario runs: small in CI, the full count on request."""
    wanted = os.environ.get(TRIALS_ENV, "").strip()
    if not wanted:
        return default
    if wanted == "full":
        return full
    return max(1, int(wanted))


# --- figures ------------------------------------------------------------------------


@dataclass
class Tally:
    """What one scenario did: printed at the end of the session."""

    trials: int = 0
    faults_survived: int = 0
    bad_inputs: int = 0
    lines_checked: int = 0
    runs_lost: int = 0
    runs_doubled: int = 0


FIGURES: dict[str, Tally] = {}


def tally(scenario: str) -> Tally:
    return FIGURES.setdefault(scenario, Tally())


def figures_table() -> list[str]:
    names = [f.name for f in fields(Tally)]
    width = max([len("scenario"), *(len(s) for s in FIGURES)])
    header = f"{'scenario':<{width}}  " + "  ".join(f"{n:>15}" for n in names)
    rows = [header]
    total = Tally()
    for scenario, counts in sorted(FIGURES.items()):
        values = [getattr(counts, n) for n in names]
        rows.append(f"{scenario:<{width}}  " + "  ".join(f"{v:>15}" for v in values))
        for name, value in zip(names, values, strict=True):
            setattr(total, name, getattr(total, name) + value)
    rows.append(f"{'total':<{width}}  " + "  ".join(f"{getattr(total, n):>15}" for n in names))
    return rows


# --- records ------------------------------------------------------------------------


def jsonl_files(home: Path) -> list[Path]:
    """Every JSONL file scoot keeps in a runtime directory, rotated generations included."""
    found: list[Path] = []
    for directory in (home / "logs", home / "state", home / "state" / "sessions"):
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            name = path.name
            if not path.is_file() or name.endswith((".lock", ".torn", ".tmp")):
                continue
            if ".jsonl" in name:
                found.append(path)
    return found


def check_records(home: Path, scenario: str) -> int:
    """Every line of every JSONL file parses and the state files parse; returns lines checked."""
    lines = 0
    for path in jsonl_files(home):
        lines += len(read_jsonl(path))  # asserts each line is one whole JSON object
    for state_file in (home / "state" / "daemon.json", home / "state" / "ledger.json"):
        if state_file.exists():
            value = json.loads(state_file.read_bytes())
            assert isinstance(value, dict), state_file
            lines += 1
    tally(scenario).lines_checked += lines
    return lines


def ledger_in_flight(home: Path) -> list[dict[str, Any]]:
    """The runs in flight, from ledger.json and its journal as scoot reads them."""
    return [flight for entry in ledger_jobs(home).values() for flight in entry["in_flight"]]


def account_runs(home: Path, scenario: str, *, stopped: bool = True) -> tuple[int, int]:
    """Runs lost (started or claimed, never recorded) and doubled (an instant run twice).

    `stopped`: no scoot process runs on `home`, so nothing may be left in flight.
    """
    recorded = runs(home)
    recorded_ids = Counter(row["run_id"] for row in recorded)
    instants = Counter(
        (row["job_id"], row["instant"])
        for row in recorded
        if row.get("origin") == "schedule" and row.get("instant") is not None
    )
    doubled = sum(n - 1 for n in recorded_ids.values() if n > 1)
    doubled += sum(n - 1 for n in instants.values() if n > 1)
    started = {row["run_id"] for row in audit(home) if row["kind"] == "job_start"}
    lost = len(started - set(recorded_ids))
    if stopped:
        lost += len([f for f in ledger_in_flight(home) if f["run_id"] not in recorded_ids])
    counts = tally(scenario)
    counts.runs_lost += lost
    counts.runs_doubled += doubled
    return lost, doubled


# --- processes ----------------------------------------------------------------------


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def survivors(pids: Iterable[int], within: float) -> list[int]:
    """The pids still alive (not zombies) after waiting up to `within` seconds."""
    deadline = time.monotonic() + within
    left = [pid for pid in pids if alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [pid for pid in left if alive(pid)]
    return left


def processes_running(argv: list[str]) -> list[int]:
    """Live processes whose command line is exactly `argv` (markers made unique per test)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["cmdline"] == argv and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc.pid)
    return found


def descendants(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


# --- the daemon as a subprocess ---------------------------------------------------


def daemon_state(home: Path) -> dict[str, Any] | None:
    try:
        return json.loads((home / "state" / "daemon.json").read_bytes())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def wait_running(home: Path, proc: subprocess.Popen[str], timeout: float = 10) -> dict[str, Any]:
    def running() -> dict[str, Any] | None:
        assert proc.poll() is None, proc.communicate()
        body = daemon_state(home)
        if body and body.get("status") == "running" and body.get("pid") == proc.pid:
            return body
        return None

    return wait_for(running, timeout=timeout)


def start_daemon(home: Path, *args: str) -> subprocess.Popen[str]:
    proc = start_scoot(home, "daemon", "run", *args)
    wait_running(home, proc)
    return proc


def peak_rss_while(pid: int, until: Any, timeout: float, interval: float = 0.01) -> int:
    """Sample `pid`'s RSS until `until()` is true; return the highest sample in bytes."""
    peak = 0
    deadline = time.monotonic() + timeout
    proc = psutil.Process(pid)
    while time.monotonic() < deadline:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.Error:
            break
        if until():
            return peak
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (peak RSS {peak >> 20} MiB)")


# --- a real Supervisor in this process, with worker bodies that misbehave ------------
