"""A start with the config parsed before: `daemon run` spawn to pid file, and its RSS.

Run: python bench/warm_start.py {spawn,rss,both} [--runs N] [--jobs N] [--scoot PATH] [--json]

The figures of `bench/edges.py spawn` and `rss` (same job mix, same anchor,
same non-editable install), with one step more before each sample: `scoot
config`, a command that writes the runtime directory, loads the config once,
so the measured start reads the parsed copy in `state/config.cache` instead
of parsing config.toml (docs/configuration.md). A daemon restarted with its
config unchanged, and every command after the first, start this way;
`bench/edges.py` measures the first start after an edit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from edges import (  # noqa: E402
    Anchor,
    Result,
    daemon,
    install_tree,
    interpreter_of,
    job_mix,
    time_result,
)

from tests.helpers import clean_env, write_config  # noqa: E402


def prepared_home(scoot: Path, scratch: Path, name: str, count: int) -> Path:
    """A runtime directory with `count` jobs whose config one earlier command has loaded."""
    home = scratch / name
    write_config(home, jobs=job_mix(count, time.time()), schedule={"poll_ms": 1000})
    subprocess.run(
        [str(scoot), "config"], env=clean_env(home), cwd=home, check=True, capture_output=True
    )
    if not (home / "state" / "config.cache").exists():
        raise SystemExit(f"bench: `scoot config` left no state/config.cache in {home}")
    return home


def spawn(scoot: Path, anchor: Anchor, scratch: Path, runs: int, count: int) -> Result:
    seconds: list[float] = []
    cpu: list[float] = []
    for i in range(runs + 1):  # the first run warms the file cache and is not counted
        home = prepared_home(scoot, scratch, f"warm-spawn{i}", count)
        if i:
            anchor.sample()
        with daemon(scoot, home) as (proc, took):
            times = psutil.Process(proc.pid).cpu_times()
            if i:
                seconds.append(took)
                cpu.append(times.user + times.system)
    return time_result(
        "warm-spawn",
        f"daemon run, {count} jobs, config parsed before: spawn to pid file",
        seconds,
        anchor,
        cpu,
    )


def rss(scoot: Path, anchor: Anchor, scratch: Path, runs: int, count: int, settle: float) -> Result:
    mib: list[float] = []
    for i in range(runs):
        home = prepared_home(scoot, scratch, f"warm-rss{i}", count)
        anchor.sample()
        anchor.sample_rss()
        with daemon(scoot, home) as (proc, _):
            time.sleep(settle)
            mib.append(psutil.Process(proc.pid).memory_info().rss / 2**20)
    return Result(
        "warm-rss",
        f"daemon RSS, {count} jobs, config parsed before, {settle:g} s after the pid file",
        "MiB",
        mib,
        [m / a for m, a in zip(mib, anchor.rss_mib, strict=True)],
        [a * 1000 for a in anchor.seconds],
        {"bare_interpreter_rss_mib": round(statistics.median(anchor.rss_mib), 1)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=["spawn", "rss", "both"])
    parser.add_argument("--runs", type=int, default=5, help="samples per figure (default 5)")
    parser.add_argument("--jobs", type=int, default=10000, help="job count (default 10000)")
    parser.add_argument("--scoot", type=Path, help="the `scoot` script to measure")
    parser.add_argument("--settle", type=float, default=5.0, help="s after the pid file (rss)")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    scoot = args.scoot.resolve() if args.scoot else install_tree()
    interpreter = interpreter_of(scoot)
    with tempfile.TemporaryDirectory(prefix="scoot-warm-") as tmp:
        scratch = Path(tmp)
        if not args.json:
            print(
                f"scoot: {scoot}\nanchor: {interpreter} -c pass ({os.path.realpath(interpreter)})"
            )
        results = []
        if args.scenario in ("spawn", "both"):
            results.append(
                spawn(scoot, Anchor(interpreter, scratch), scratch, args.runs, args.jobs)
            )
        if args.scenario in ("rss", "both"):
            anchor = Anchor(interpreter, scratch)
            results.append(rss(scoot, anchor, scratch, args.runs, args.jobs, args.settle))
        for result in results:
            if args.json:
                sys.stdout.buffer.write(orjson.dumps(asdict(result)) + b"\n")
            else:
                print(result.line())
            sys.stdout.flush()


if __name__ == "__main__":
    main()
