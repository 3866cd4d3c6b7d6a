"""What the spend window costs: reading the last day's runs at start, and deciding a fire.

Run: python bench/spend_window.py [--runs 20000] [--answers 10]
Writes a runs.jsonl of --runs lines (all within the last 24 hours) to a temporary
directory, then times (median of 5):
- start (in milliseconds): reading its last 8 MiB and building the window (what every `schedule run`,
  `daemon run` and `-e` does once);
- decide (in microseconds): one "is this job's or the global day budget spent" check, with the window
  holding --runs x --answers usage reports (the daemon's live updates).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from scoot.records.files import tail_objects
from scoot.shared.spend.budget import Limits, SpendWindow, spent_reason, window_from_runs
from scoot.supervise.spending import SPEND_TAIL_BYTES


def median_ms(work, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--answers", type=int, default=10)
    args = parser.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runs.jsonl"
        with path.open("wb") as out:
            for n in range(args.runs):
                row = {
                    "run_id": f"r{n}",
                    "job_id": f"job-{n % 50}",
                    "status": "ok",
                    "ended_at": now - 86000 * (1 - n / args.runs),
                    "answer": "x" * 300,
                    "tokens": {"input": 1200, "output": 300},
                    "cost": 0.004,
                }
                out.write(orjson.dumps(row) + b"\n")
        size_mb = path.stat().st_size / 2**20
        start = median_ms(lambda: window_from_runs(tail_objects(path, SPEND_TAIL_BYTES), now))
    window = SpendWindow()
    reports = args.runs * args.answers
    for n in range(reports):
        window.add(now - 86000 * (1 - n / reports), f"job-{n % 50}", 150, 0.0004)
    limits = Limits(job_day_tokens=10**12, day_tokens=10**12, day_cost=10.0**9)
    decide = median_ms(lambda: spent_reason(limits, window, "job-7", now))
    print(f"runs.jsonl: {args.runs} lines, {size_mb:.1f} MiB")
    print(f"start (read last {SPEND_TAIL_BYTES // 2**20} MiB, build window): {start:.1f} ms")
    print(f"decide (one fire, {reports} usage reports in 24 h): {decide * 1000:.1f} us")


if __name__ == "__main__":
    main()
