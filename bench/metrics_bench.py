"""Metrics figures on this machine: the cost of a scrape, and idle CPU with metrics on and off.

Run: python bench/metrics_bench.py [scrape|idle|all] [--jobs 1000] [--runs 20000] [--seconds 30]

- scrape: a real daemon with --jobs jobs (none due) and --runs records in runs.jsonl;
          GET /metrics over loopback, 50 times: median and p95 milliseconds, and the size
- idle:   CPU seconds per minute of an idle daemon with 10 jobs, for --seconds each:
          metrics off; listen + textfile on, not scraped; on, scraped every second
Quotes medians and p95; these machines are noisy, so run it more than once.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import clean_env, scoot_cmd, write_config  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def yearly_jobs(count: int) -> list[dict]:
    """Jobs that never come due during a bench: once a year, on 1 January."""
    return [
        {"id": f"job-{i:05d}", "goal": "quick", "cron": f"{i % 60} {i // 60 % 24} 1 1 *"}
        for i in range(count)
    ]


def seed_runs(home: Path, jobs: list[dict], count: int) -> None:
    (home / "state").mkdir(parents=True, exist_ok=True)
    now = time.time()
    with open(home / "state" / "runs.jsonl", "w") as handle:
        for i in range(count):
            job = jobs[i % len(jobs)]["id"]
            start = now - 86400 + i
            row = {
                "run_id": f"r{i}",
                "job_id": job,
                "session_id": f"job-{job}",
                "origin": "schedule",
                "mode": "readonly",
                "instant": start - 0.01,
                "started_at": start,
                "ended_at": start + 1.5,
                "status": "ok" if i % 17 else "error",
                "exit_code": 0,
                "signal": None,
                "duration_ms": 1500,
                "peak_rss_kb": 30000,
                "answer": "done",
                "error": None,
            }
            handle.write(json.dumps(row) + "\n")


def start_daemon(home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        scoot_cmd("daemon", "run"),
        env=clean_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=home,
    )


def get(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as reply:
        return reply.read()


def wait_serving(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            get(port)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the daemon never served /metrics")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench_scrape(job_count: int, run_count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        port = free_port()
        jobs = yearly_jobs(job_count)
        write_config(
            home,
            jobs=jobs,
            schedule={"poll_ms": 1000},
            sections={"metrics": {"listen": f"127.0.0.1:{port}"}},
        )
        seed_runs(home, jobs, run_count)
        proc = start_daemon(home)
        try:
            started = time.monotonic()
            wait_serving(port)
            ready = time.monotonic() - started
            times = []
            size = 0
            for _ in range(50):
                t0 = time.perf_counter()
                size = len(get(port))
                times.append((time.perf_counter() - t0) * 1000)
        finally:
            stop(proc)
        cold = cold_render_ms(home, jobs)
    print(
        f"scrape: {job_count} jobs, {run_count} runs in runs.jsonl: "
        f"median {statistics.median(times):.1f} ms, p95 {pct(times, 0.95):.1f} ms over HTTP "
        f"(nothing changed between scrapes), {size / 1024:.0f} KiB per scrape; "
        f"rendering after a change (in process): median {statistics.median(cold):.0f} ms, "
        f"p95 {pct(cold, 0.95):.0f} ms (daemon start to first scrape {ready:.1f} s)"
    )


def cold_render_ms(home: Path, jobs: list[dict]) -> list[float]:
    """The full rendering a scrape does after a run was recorded (no cached group)."""
    from scoot.observe.families import LiveView
    from scoot.observe.metrics import MetricsState

    ids = [job["id"] for job in jobs]
    view = LiveView(
        {i: "active" for i in ids}, {i: 1.0 for i in ids}, {i: 60.0 for i in ids}, 0, 0, 0, 1.0
    )
    state = MetricsState(home / "state" / "runs.jsonl", lambda: view)
    state.tally.catch_up()
    times = []
    for _ in range(10):
        state.tally.generation += 1  # as a newly recorded run does
        t0 = time.perf_counter()
        state.render()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def idle_cpu(seconds: float, metrics: bool, scrape_every: float | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        port = free_port()
        sections = (
            {"metrics": {"listen": f"127.0.0.1:{port}", "textfile": f"{tmp}/scoot.prom"}}
            if metrics
            else {}
        )
        write_config(home, jobs=yearly_jobs(10), schedule={"poll_ms": 1000}, sections=sections)
        proc = start_daemon(home)
        try:
            time.sleep(3)  # past the start-up imports
            if metrics:
                wait_serving(port)
            before = cpu_seconds(proc.pid)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if scrape_every:
                    get(port)
                    time.sleep(scrape_every)
                else:
                    time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            used = cpu_seconds(proc.pid) - before
        finally:
            stop(proc)
    return used / seconds * 60


def cpu_seconds(pid: int) -> float:
    """CPU time of a process in nanosecond resolution (/proc/<pid>/schedstat), in seconds."""
    try:
        with open(f"/proc/{pid}/schedstat") as handle:
            return int(handle.read().split()[0]) / 1e9
    except OSError:
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system


def bench_idle(seconds: float) -> None:
    off = idle_cpu(seconds, metrics=False, scrape_every=None)
    on = idle_cpu(seconds, metrics=True, scrape_every=None)
    scraped = idle_cpu(seconds, metrics=True, scrape_every=1.0)
    print(
        f"idle CPU, 10 jobs, poll_ms=1000, {seconds:g} s each (CPU seconds per minute): "
        f"metrics off {off:.3f}, on {on:.3f}, on and scraped every second {scraped:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", nargs="?", default="all", choices=["scrape", "idle", "all"])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    if args.what in ("scrape", "all"):
        bench_scrape(args.jobs, args.runs)
    if args.what in ("idle", "all"):
        bench_idle(args.seconds)


if __name__ == "__main__":
    main()
