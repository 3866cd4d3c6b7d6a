"""Memory soak: RSS of a real supervisor over 10,000 runs; it must stay flat.

Run: python bench/memory_soak.py [--runs 10000] [--warmup 1000]

Forked workers answer at once (a real answer's size), four at a time, fed
through the supervisor's heartbeat so the queue stays short. Prints RSS
after the warm-up, at the end, the growth and the samples along the way.
The bound it must hold: growth under 2 MiB over 10,000 runs (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.memory import rss_over_runs  # noqa: E402

MIB = 1 << 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scoot-memory-") as tmp:
        began = time.monotonic()
        figures = rss_over_runs(Path(tmp) / "home", args.runs, args.warmup)
        took = time.monotonic() - began
    print(f"runs: {figures.runs} in {took:.1f} s")
    print(f"RSS after {args.warmup} runs: {figures.rss_after_warmup / MIB:.2f} MiB")
    print(f"RSS at the end: {figures.rss_at_end / MIB:.2f} MiB")
    print(f"growth: {figures.growth / MIB:.2f} MiB (bound 2 MiB)")
    print("samples (runs: MiB): " + ", ".join(f"{n}: {r / MIB:.1f}" for n, r in figures.samples))
    return 0 if figures.growth < 2 * MIB else 1


if __name__ == "__main__":
    raise SystemExit(main())
