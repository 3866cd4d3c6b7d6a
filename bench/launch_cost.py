"""Worker launch cost, fork of the parent vs exec of a fresh interpreter: launch to `hello`.

Run: python bench/launch_cost.py [--runs 50] [--mode readonly|guarded] [--entries N]
Prints medians and p95 in milliseconds, and the ratio.

--entries N puts the runtime directory inside the working directory, beside
N other entries: the ruleset then grants those entries one by one (the cost
of keeping the runtime directory out of a run started in `~`).
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time

import orjson

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from scoot.shared.limits import DEFAULT_LIMITS  # noqa: E402
from scoot.shared.run_spec import RunSpec  # noqa: E402
from scoot.supervise.launch import launch_worker  # noqa: E402
from tests.run_specs import backend_wire, run_spec  # noqa: E402

# The exec variant pays what a fresh worker would: interpreter start-up, the
# worker's imports, the sandbox, then the hello frame.
EXEC_CHILD = r"""
import os, sys
from worker.main import FrameWriter, _hello
from tests.run_specs import run_spec
from worker import sandbox, agent  # noqa: F401  (what a real run imports before hello)
emit = FrameWriter(1)
spec = run_spec(sys.argv[1], sys.argv[1], run_id="r", job_id="bench")
limits = sandbox.Limits.from_config({}, None)
report = sandbox.apply("readonly", limits, scratch_dir=sys.argv[1], backend_port=9, require=False, parent_pid=os.getppid())
emit(_hello(spec, report.to_dict()))
"""


def hello_body_spec(
    scratch: str, mode: str = "readonly", cwd: str | None = None, protected: list | None = None
) -> RunSpec:
    return run_spec(
        scratch,
        cwd or scratch,
        run_id="r",
        session_id="s",
        job_id="bench",
        goal="g",
        mode=mode,
        backend=backend_wire(timeout_ms=1000, model="m"),
        max_turns=1,
        tools={"timeout_ms": 1000},
        sandbox={"protected": protected or [], "limits": dict(DEFAULT_LIMITS)},
    )


def fork_once(scratch: str, spec: RunSpec | None = None) -> float:
    started = time.perf_counter()
    worker = launch_worker(spec or hello_body_spec(scratch))
    buffer = b""
    while b"\n" not in buffer:
        select.select([worker.frame_fd], [], [], 5)
        try:
            buffer += os.read(worker.frame_fd, 65536)
        except BlockingIOError:
            continue
    took = time.perf_counter() - started
    assert orjson.loads(buffer.split(b"\n", 1)[0])["type"] == "hello"
    os.killpg(worker.pid, 9)
    os.waitpid(worker.pid, 0)
    os.close(worker.frame_fd)
    os.close(worker.output_fd)
    return took


def exec_once(scratch: str) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", EXEC_CHILD, scratch], stdout=subprocess.PIPE, cwd=REPO
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    took = time.perf_counter() - started
    assert orjson.loads(line)["type"] == "hello", line
    proc.kill()
    proc.wait()
    return took


def summarise(name: str, samples: list[float]) -> float:
    ms = sorted(s * 1000 for s in samples)
    median = statistics.median(ms)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{name:<6} median {median:7.2f} ms   p95 {p95:7.2f} ms   (n={len(ms)})")
    return median


def main() -> None:
    from scoot.supervise.preload import preload_worker

    preload_worker()  # what the supervisor does before its loop

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--mode", choices=("readonly", "guarded"), default="readonly")
    parser.add_argument("--entries", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as cwd:
        spec = hello_body_spec(scratch, args.mode)
        if args.entries:
            home = os.path.join(cwd, ".scoot")
            os.mkdir(home)
            for n in range(args.entries):
                open(os.path.join(cwd, f"entry-{n}"), "w").close()
            spec = hello_body_spec(scratch, args.mode, cwd, [home])
        fork_samples = [fork_once(scratch, spec) for _ in range(args.runs)]
        exec_samples = [exec_once(scratch) for _ in range(args.runs)]
    fork_median = summarise("fork", fork_samples)
    exec_median = summarise("exec", exec_samples)
    print(f"exec / fork median ratio: {exec_median / fork_median:.1f}x")


if __name__ == "__main__":
    main()
