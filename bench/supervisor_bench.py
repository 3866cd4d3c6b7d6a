"""Supervisor figures on this machine, with the scripted model answering at once.

Run: python bench/supervisor_bench.py [lateness|slow|idle|list|burst|all]

- lateness: due instant -> the worker's hello (fire lateness), job_start -> hello (launch)
- slow:     the same while one job's model sleeps 8 s
- idle:     CPU seconds per minute and RSS of an idle daemon with 200 and 10,000 jobs
- list:     `scoot schedule list` wall time with 10,000 jobs
- burst:    500 jobs due at one instant with max_concurrent = 8: throughput, lost, doubled
Quotes medians and p95; these machines are noisy, so run it more than once.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoot.testing.model_server import ScriptedModel  # noqa: E402
from tests.helpers import clean_env, scoot_cmd, write_config  # noqa: E402


def audit_rows(home: Path) -> list[dict]:
    return [
        orjson.loads(line) for line in (home / "logs" / "audit.jsonl").read_bytes().splitlines()
    ]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_daemon(home: Path, ticks: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        scoot_cmd("daemon", "run", "--ticks", str(ticks)),
        env=clean_env(home),
        capture_output=True,
        text=True,
        cwd=home,
        timeout=600,
    )


def fire_figures(home: Path, skip: set[str] = frozenset()) -> tuple[list[float], list[float]]:
    starts: dict[str, dict] = {}
    late: list[float] = []
    launch: list[float] = []
    for row in audit_rows(home):
        if row["kind"] == "job_start" and row.get("job_id") not in skip:
            starts[row["run_id"]] = row
        elif row["kind"] == "sandbox" and row["run_id"] in starts:
            start = starts[row["run_id"]]
            late.append(row["ts"] - start["instant"] * 1000)
            launch.append(row["ts"] - start["ts"])
    return late, launch


def lateness(slow: bool = False) -> None:
    script = {
        "rules": [{"match": "slow", "steps": [{"final": "slow", "delay_ms": 8000}]}],
        "default": [{"final": "ok"}],
    }
    with ScriptedModel(script) as model, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        base = time.time() + 2.0
        jobs = [
            {"id": f"j{i}", "goal": "quick", "at_unix": base + 0.5 + i * 0.137} for i in range(40)
        ]
        if slow:
            jobs.append({"id": "slow", "goal": "slow", "at_unix": base})
        write_config(
            home,
            base_url=model.base_url,
            jobs=jobs,
            schedule={"poll_ms": 1000, "max_concurrent": 8},
            sections={"backend": {"timeout_ms": 20000}},
        )
        run_daemon(home, ticks=10 if slow else 9)
        late, launch = fire_figures(home, skip={"slow"})
    label = "with an 8 s job running" if slow else "quiet"
    print(
        f"fire lateness ({label}): median {statistics.median(late):.1f} ms, "
        f"p95 {pct(late, 0.95):.1f} ms, max {max(late):.1f} ms (n={len(late)})"
    )
    print(
        f"launch cost   ({label}): median {statistics.median(launch):.1f} ms, "
        f"p95 {pct(launch, 0.95):.1f} ms (n={len(launch)})"
    )


def cpu_seconds(pid: int) -> float:
    """Time on CPU from /proc/<pid>/schedstat (nanoseconds), finer than clock ticks."""
    with open(f"/proc/{pid}/schedstat") as handle:
        return int(handle.read().split()[0]) / 1e9


def idle(count: int, seconds: float = 30.0) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        jobs = [{"id": f"j{i}", "goal": "g", "cron": "0 0 1 1 *"} for i in range(count)]
        write_config(home, jobs=jobs, schedule={"poll_ms": 1000})
        proc = subprocess.Popen(
            scoot_cmd("daemon", "run"),
            env=clean_env(home),
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not (home / "state" / "daemon.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.0)  # start-up is not idle time
        info = psutil.Process(proc.pid)
        before = cpu_seconds(proc.pid)
        time.sleep(seconds)
        used = cpu_seconds(proc.pid) - before
        rss = info.memory_info().rss
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    print(
        f"idle daemon, {count} jobs: {used * 60 / seconds:.4f} CPU-s per minute, "
        f"RSS {rss / 2**20:.1f} MiB (measured over {seconds:.0f} s)"
    )


def listing(count: int = 10000, repeat: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        # Distinct expressions, so nothing is helped by repetition.
        jobs = [
            {
                "id": f"j{i}",
                "goal": "g",
                "cron": f"{i % 60} {(i // 60) % 24} {1 + (i // 1440) % 28} * *",
            }
            for i in range(count)
        ]
        write_config(home, jobs=jobs)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(
                scoot_cmd("schedule", "list"),
                env=clean_env(home),
                cwd=home,
                capture_output=True,
                check=True,
            )
            times.append(time.perf_counter() - started)
    print(
        f"schedule list, {count} jobs: median {statistics.median(times):.2f} s, "
        f"max {max(times):.2f} s (n={repeat})"
    )


def burst(count: int = 500) -> None:
    with (
        ScriptedModel({"default": [{"final": "ok"}]}) as model,
        tempfile.TemporaryDirectory() as tmp,
    ):
        home = Path(tmp) / "home"
        at = time.time() + 3.0
        jobs = [{"id": f"b{i}", "goal": "g", "at_unix": at} for i in range(count)]
        write_config(
            home,
            base_url=model.base_url,
            jobs=jobs,
            schedule={"poll_ms": 1000, "max_concurrent": 8, "job_timeout_sec": 120},
        )
        run_daemon(home, ticks=5)
        rows = [
            orjson.loads(line) for line in (home / "state" / "runs.jsonl").read_bytes().splitlines()
        ]
        audit = audit_rows(home)  # raises if any line does not parse
    ids = [r["job_id"] for r in rows]
    ok = sum(1 for r in rows if r["status"] == "ok")
    lost = count - len(set(ids))
    doubled = len(ids) - len(set(ids))
    span = max(r["ended_at"] for r in rows) - at
    print(
        f"burst: {count} jobs due at one instant, max_concurrent=8: {len(rows)} runs, {ok} ok, "
        f"lost {lost}, doubled {doubled}, {len(audit)} audit lines parsed, "
        f"all done {span:.1f} s after the instant ({len(rows) / span:.1f} runs/s)"
    )


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("lateness", "all"):
        lateness()
    if what in ("slow", "all"):
        lateness(slow=True)
    if what in ("idle", "all"):
        idle(200)
        idle(10000)
    if what in ("list", "all"):
        listing()
    if what in ("burst", "all"):
        burst()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
