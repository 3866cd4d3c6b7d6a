"""Three workers from one instant: held (forked ahead, go on the instant) versus forked on it.

Run: python bench/held_start.py [--rounds 20] [--workers 3]

Each round takes an instant T and starts `--workers` real workers against the
scripted model on loopback, both ways, one after the other: "held" forks them
ahead (as the supervisor does within its claim lead), waits for their hello,
and gives each its go at T; "fork" forks them one after another at T, as the
supervisor did before. For every run it measures (arrival of its first model
request at the server - T) and quotes median, p95 and max per way. The two
ways alternate, so both see the same load; the machine is shared and noisy,
so never assert these figures in a test.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import select
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from scoot.supervise.launch import WorkerProcess, launch_worker  # noqa: E402
from scoot.testing.model_server import ScriptedModel  # noqa: E402
from tests.run_specs import backend_wire, run_spec  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def wait_for_hello(worker: WorkerProcess) -> None:
    buffer = b""
    deadline = time.monotonic() + 10
    while b"\n" not in buffer and time.monotonic() < deadline:
        select.select([worker.frame_fd], [], [], 1)
        try:
            buffer += os.read(worker.frame_fd, 65536)
        except BlockingIOError:
            continue


def one_round(model: ScriptedModel, way: str, workers: int, tag: str) -> list[float]:
    specs = []
    for n in range(workers):
        scratch = tempfile.mkdtemp()
        specs.append(
            run_spec(scratch, scratch, run_id=f"{tag}-{n}", backend=backend_wire(model.base_url))
        )
    seen = len(model.requests)
    if way == "held":
        started = [launch_worker(spec, held=True) for spec in specs]
        for worker in started:
            wait_for_hello(worker)
        time.sleep(0.03)
        instant = time.time()
        for worker in started:
            worker.go()
    else:
        time.sleep(0.03)
        instant = time.time()
        started = [launch_worker(spec) for spec in specs]
    for worker in started:
        os.waitpid(worker.pid, 0)
        os.close(worker.frame_fd)
        os.close(worker.output_fd)
    return [(r.received_at - instant) * 1000 for r in model.requests[seen:] if r.turn == 0]


def main() -> int:
    from scoot.supervise.supervisor import _preload_worker

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    _preload_worker()  # what the supervisor does before its loop
    gc.freeze()
    late: dict[str, list[float]] = {"held": [], "fork": []}
    with ScriptedModel({"default": [{"final": "on time"}]}) as model:
        for number in range(args.rounds):
            for way in late:
                late[way] += one_round(model, way, args.workers, f"r{number}-{way}")
                time.sleep(0.1)
    for way, values in late.items():
        print(
            f"{way}: {len(values)} runs, first request - instant: median "
            f"{statistics.median(values):.1f} ms, p95 {pct(values, 0.95):.1f} ms, "
            f"max {max(values):.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
