"""What one wake-up of an idle loop costs this machine: a bare epoll wait that times out.

Run: python bench/wake_cost.py [--wakes 30] [--period 1.0] [--runs 3]

Prints the CPU time (from /proc/self/schedstat, kernel and user) per wake and
per minute at that period, each run a fresh count. An idle daemon wakes once
per `poll_ms`; this is the floor under its idle CPU that no work saved in a
pass removes (docs/performance.md: the idle row).
"""

from __future__ import annotations

import argparse
import select
import statistics


def cpu_ns() -> int:
    with open("/proc/self/schedstat") as stat:
        return int(stat.read().split()[0])


def one_run(wakes: int, period: float) -> float:
    """CPU ns per wake of `wakes` epoll waits of `period` seconds on nothing."""
    poller = select.epoll()
    try:
        before = cpu_ns()
        for _ in range(wakes):
            poller.poll(period)
        return (cpu_ns() - before) / wakes
    finally:
        poller.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wakes", type=int, default=30, help="wakes per run (default 30)")
    parser.add_argument("--period", type=float, default=1.0, help="s between wakes (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs (default 3)")
    args = parser.parse_args()
    per_wake = [one_run(args.wakes, args.period) for _ in range(args.runs)]
    ms = [ns / 1e6 for ns in per_wake]
    per_minute = [m * 60 / args.period for m in ms]
    print(
        f"bare epoll wake every {args.period:g} s: median {statistics.median(ms):.3f} ms CPU "
        f"per wake (min {min(ms):.3f}, max {max(ms):.3f}, n={len(ms)}), "
        f"{statistics.median(per_minute):.1f} ms/min"
    )


if __name__ == "__main__":
    main()
