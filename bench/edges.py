"""Where users wait on scoot: one scenario per row of the table in docs/performance.md.

Run: python bench/edges.py SCENARIO [--runs N] [--json] [--jobs N] [--scoot PATH]

Scenarios (default sizes; --jobs changes the job count):
- tick:      `schedule run --ticks 1` with 3 jobs due, exec to exit
- list3:     `schedule list` with 3 jobs
- list10k:   `schedule list` with 10,000 jobs (9,000 at_unix, 1,000 cron), each a first
             read of the config (no state/ to keep its parse in: as after an edit)
- list10k-kept: the same in a runtime directory with a state/, the config unchanged since
             the listing before (its parse read back from state/config.cache)
- spawn:     `daemon run` with 10,000 jobs, spawn to the pid file
- rss:       the daemon's RSS with 10,000 jobs, 5 s after its pid file
- burst:     200 jobs due at one instant, the default cap: instant to the last model request
- sustained: 500 jobs due at one instant, max_concurrent = 16: runs per second, 0 lost, 0 doubled
- idle:      CPU of a daemon with 10,000 jobs, settled 5 s after its pid file, over 30 s
- ledger:    one ledger transaction (a claim, then its release) with 10,000 jobs in the
             ledger, in the interpreter of the scoot under test: ms, bytes written, fsyncs
- all:       each of the above in turn

Every sample is paired with a start of the same interpreter (`python -c pass`),
run alternately with it, and each figure is quoted with its ratio to that
anchor: on a shared machine the ratio moves far less than the figure. Medians
over --runs samples (default 5).

By default the scoot measured is a normal (non-editable) install of this tree
into a virtual environment the bench makes and reuses while the tree is
unchanged: an editable install adds import hooks to every start that users of
`pip install` do not pay. --scoot PATH measures another `scoot` script.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from supervisor_bench import audit_rows, cpu_seconds  # noqa: E402

from scoot.testing.model_server import ScriptedModel  # noqa: E402
from tests.helpers import clean_env, write_config  # noqa: E402

FINAL = {"default": [{"final": "ok"}]}
# Far enough ahead that no at_unix job of a listing or idle scenario comes due.
FAR = 30 * 86400


# --- the scoot under test and its interpreter -------------------------------


def tree_key() -> str:
    """A digest of what an install of this tree contains, so a stale install is never reused."""
    digest = hashlib.sha256()
    for top in ("scoot", "worker"):
        for path in sorted((REPO / top).rglob("*.py")):
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    digest.update((REPO / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:16]


def install_tree() -> Path:
    """`pip install` (not -e) of this tree into a cached venv; returns its `scoot` script."""
    venv = Path(tempfile.gettempdir()) / f"scoot-bench-{tree_key()}"
    script = venv / "bin" / "scoot"
    if script.exists():
        return script
    print(f"installing this tree into {venv} (once per tree) ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as source:
        # A copy, so the build leaves nothing in the tree.
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        for top in ("scoot", "worker"):
            shutil.copytree(REPO / top, Path(source) / top, ignore=ignore)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (REPO / name).exists():
                shutil.copy2(REPO / name, Path(source) / name)
        building = venv.with_name(venv.name + ".partial")
        shutil.rmtree(building, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(building)], check=True)
        subprocess.run(
            [str(building / "bin" / "pip"), "install", "-q", "--no-warn-script-location", source],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # The venv's scripts name their interpreter by the final path.
        for entry in (building / "bin").iterdir():
            if entry.is_file() and not entry.is_symlink():
                text = entry.read_bytes()
                if text.startswith(b"#!"):
                    entry.write_bytes(text.replace(str(building).encode(), str(venv).encode()))
        building.rename(venv)
    return script


def interpreter_of(script: Path) -> Path:
    """The interpreter a console script runs on, checked to be a real binary, not a shim."""
    first = script.read_bytes().split(b"\n", 1)[0]
    if not first.startswith(b"#!"):
        raise SystemExit(f"{script} has no #! line; pass --scoot with a console script")
    words = first[2:].decode().split()
    if Path(words[0]).name == "env":
        found = shutil.which(words[-1])
        if found is None:
            raise SystemExit(f"{script} names `{words[-1]}`, which is not on PATH")
        words = [found]
    interpreter = Path(words[0])
    with open(os.path.realpath(interpreter), "rb") as handle:
        if handle.read(4) != b"\x7fELF":
            raise SystemExit(
                f"{interpreter} is a script (a shim?), not an interpreter; "
                "install scoot into a venv of the real python and pass its `scoot`"
            )
    return interpreter


# --- timing one process -----------------------------------------------------


@dataclass
class Spawned:
    seconds: float
    status: int
    # User + system time of the process and the children it waited for.
    cpu_seconds: float


def spawn_timed(argv: list[str], env: dict[str, str], cwd: Path, out: Path) -> Spawned:
    """Exec to exit of one process, stdout and stderr to `out`; no Python between them."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    actions = [(os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)]
    here = os.getcwd()
    os.chdir(cwd)  # posix_spawn has no cwd of its own on Python 3.11
    try:
        cpu_before = children_cpu()
        started = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        took = time.perf_counter() - started
        cpu = children_cpu() - cpu_before
    finally:
        os.chdir(here)
        os.close(fd)
    return Spawned(took, os.waitstatus_to_exitcode(status), cpu)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Anchor:
    """`python -c pass` of the interpreter under test, sampled between the measured runs."""

    def __init__(self, interpreter: Path, scratch: Path) -> None:
        self.argv = [str(interpreter), "-c", "pass"]
        self.interpreter = interpreter
        self.scratch = scratch
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []
        self.rss_mib: list[float] = []

    def sample(self) -> None:
        done = spawn_timed(self.argv, dict(os.environ), self.scratch, self.scratch / "anchor.out")
        if done.status != 0:
            raise SystemExit(f"{' '.join(self.argv)} exited {done.status}")
        self.seconds.append(done.seconds)
        self.cpu_seconds.append(done.cpu_seconds)

    def sample_rss(self) -> None:
        """The resident size of the bare interpreter once started, read as the daemon's is.

        Not ru_maxrss from wait4: a spawned child's peak counts pages of its parent.
        """
        pages = subprocess.run(
            [str(self.interpreter), "-c", "print(open('/proc/self/statm').read().split()[1])"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        self.rss_mib.append(int(pages) * os.sysconf("SC_PAGE_SIZE") / 2**20)


# --- results ----------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    measure: str
    unit: str
    samples: list[float]
    # Each sample over the anchor sample beside it (for rates, per-run time over it).
    ratios: list[float]
    anchor_ms: list[float]
    checks: dict[str, Any] = field(default_factory=dict)
    # CPU time of each sample where it is known: steadier than wall time on a shared machine.
    cpu_ms: list[float] = field(default_factory=list)
    anchor_cpu_ms: list[float] = field(default_factory=list)
    median: float = 0.0
    ratio: float = 0.0
    anchor_median_ms: float = 0.0

    def __post_init__(self) -> None:
        self.median = statistics.median(self.samples)
        self.ratio = statistics.median(self.ratios)
        self.anchor_median_ms = statistics.median(self.anchor_ms)

    def line(self) -> str:
        spread = f"min {min(self.samples):.1f}, max {max(self.samples):.1f}"
        checks = "".join(f", {k} {v}" for k, v in self.checks.items())
        if self.cpu_ms:
            cpu_ratio = statistics.median(
                c / max(a, 0.001) for c, a in zip(self.cpu_ms, self.anchor_cpu_ms, strict=True)
            )
            checks += (
                f", CPU median {statistics.median(self.cpu_ms):.1f} ms "
                f"({cpu_ratio:.1f}x python -c pass's {statistics.median(self.anchor_cpu_ms):.1f} ms)"
            )
        return (
            f"{self.measure}: median {self.median:.1f} {self.unit} ({spread}, n={len(self.samples)})"
            f"{checks}; {self.ratio:.2f}x python -c pass (median {self.anchor_median_ms:.1f} ms)"
        )


def time_result(
    scenario: str,
    measure: str,
    seconds: list[float],
    anchor: Anchor,
    cpu: Sequence[float] = (),
    **checks: Any,
) -> Result:
    return Result(
        scenario,
        measure,
        "ms",
        [s * 1000 for s in seconds],
        [s / a for s, a in zip(seconds, anchor.seconds, strict=True)],
        [a * 1000 for a in anchor.seconds],
        checks,
        [c * 1000 for c in cpu],
        [a * 1000 for a in anchor.cpu_seconds] if cpu else [],
    )


# --- the runtime directories ------------------------------------------------


def job_mix(count: int, now: float) -> list[dict[str, Any]]:
    """Nine in ten at_unix far ahead, one in ten cron with distinct expressions; none due."""
    crons = max(1, count // 10) if count > 1 else 0
    month = (time.gmtime(now).tm_mon + 5) % 12 + 1  # half a year away: no cron job comes due
    jobs: list[dict[str, Any]] = [
        {"id": f"a{i}", "goal": "g", "at_unix": round(now + FAR + i, 3)}
        for i in range(count - crons)
    ]
    jobs += [
        {
            "id": f"c{i}",
            "goal": "g",
            "cron": f"{i % 60} {(i // 60) % 24} {1 + (i // 1440) % 28} {month} *",
        }
        for i in range(crons)
    ]
    return jobs


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The whole lines of a JSONL file; a line being appended as we read is left for later."""
    if not path.exists():
        return []
    whole = path.read_bytes().rpartition(b"\n")[0]
    return [orjson.loads(line) for line in whole.splitlines()]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {what} did not happen within {timeout:g} s")
        time.sleep(poll)


def wait_for_rows(path: Path, count: int, stall_sec: float = 30.0) -> list[dict[str, Any]]:
    """The run records once there are `count`, or once none has come for `stall_sec`:
    a lost run is then counted as lost, not waited for."""
    rows = read_rows(path)
    last_growth = time.monotonic()
    while len(rows) < count and time.monotonic() - last_growth < stall_sec:
        time.sleep(0.05)
        newer = read_rows(path)
        if len(newer) > len(rows):
            last_growth = time.monotonic()
        rows = newer
    return rows


@contextmanager
def daemon(scoot: Path, home: Path) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """A `scoot daemon run`, yielded with the seconds from spawn to its pid file; stopped after."""
    log = open(home / "daemon.out", "wb")  # noqa: SIM115  (closed below)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(scoot), "daemon", "run"], env=clean_env(home), cwd=home, stdout=log, stderr=log
    )
    pid_file = home / "state" / "daemon.pid"
    try:
        # 1 ms polls: the figure is a few hundred ms, and the poll cost stays small.
        wait_until(lambda: pid_file.exists() or proc.poll() is not None, 120, "the pid file", 0.001)
        took = time.perf_counter() - started
        if proc.poll() is not None:
            raise SystemExit(f"bench: the daemon exited {proc.returncode}; see {home}/daemon.out")
        yield proc, took
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# --- the scenarios ------------------------------------------------------------


@dataclass
class Bench:
    scoot: Path
    anchor: Anchor
    scratch: Path
    runs: int
    jobs: int | None
    lead: float
    settle: float
    window: float

    def home(self, name: str) -> Path:
        path = self.scratch / name
        shutil.rmtree(path, ignore_errors=True)
        return path

    def count(self, default: int) -> int:
        return self.jobs if self.jobs is not None else default

    def tick(self) -> Result:
        count = self.count(3)
        seconds: list[float] = []
        cpu: list[float] = []
        with ScriptedModel(FINAL) as model:
            for i in range(self.runs + 1):  # the first run warms caches and is not counted
                home = self.home(f"tick{i}")
                jobs = [{"id": f"t{j}", "goal": "g", "every_sec": 3600} for j in range(count)]
                write_config(home, base_url=model.base_url, jobs=jobs)
                if i:
                    self.anchor.sample()
                done = spawn_timed(
                    [str(self.scoot), "schedule", "run", "--ticks", "1"],
                    clean_env(home),
                    home,
                    home / "out.txt",
                )
                rows = read_rows(home / "state" / "runs.jsonl")
                ok = sum(1 for row in rows if row["status"] == "ok")
                if done.status != 0 or ok != count:
                    raise SystemExit(f"bench: tick exited {done.status} with {ok}/{count} ok runs")
                if i:
                    seconds.append(done.seconds)
                    cpu.append(done.cpu_seconds)
        return time_result(
            "tick", f"schedule run --ticks 1, {count} jobs due", seconds, self.anchor, cpu
        )

    def listing(self, scenario: str, default: int, kept: bool = False) -> Result:
        count = self.count(default)
        home = self.home(scenario)
        write_config(home, jobs=job_mix(count, time.time()))
        if kept:  # the uncounted first listing keeps the parse there for the others
            (home / "state").mkdir(mode=0o700, exist_ok=True)
        seconds: list[float] = []
        cpu: list[float] = []
        for i in range(self.runs + 1):
            if i:
                self.anchor.sample()
            done = spawn_timed(
                [str(self.scoot), "schedule", "list"], clean_env(home), home, home / "out.txt"
            )
            shown = (home / "out.txt").read_bytes().count(b"\n")
            if done.status != 0 or shown < count:
                raise SystemExit(f"bench: schedule list exited {done.status}, {shown} lines")
            if i:
                seconds.append(done.seconds)
                cpu.append(done.cpu_seconds)
        what = f"schedule list, {count} jobs" + (", config unchanged" if kept else "")
        # An older scoot keeps no parse when it lists: say so rather than hide it.
        checks = {"parse_kept": (home / "state" / "config.cache").exists()} if kept else {}
        return time_result(scenario, what, seconds, self.anchor, cpu, **checks)

    def spawn(self) -> Result:
        count = self.count(10000)
        seconds: list[float] = []
        cpu: list[float] = []
        for i in range(self.runs + 1):
            home = self.home(f"spawn{i}")
            write_config(home, jobs=job_mix(count, time.time()), schedule={"poll_ms": 1000})
            if i:
                self.anchor.sample()
            with daemon(self.scoot, home) as (proc, took):
                times = psutil.Process(proc.pid).cpu_times()
                if i:
                    seconds.append(took)
                    cpu.append(times.user + times.system)
        return time_result(
            "spawn", f"daemon run, {count} jobs: spawn to pid file", seconds, self.anchor, cpu
        )

    def rss(self) -> Result:
        count = self.count(10000)
        mib: list[float] = []
        for i in range(self.runs):
            home = self.home(f"rss{i}")
            write_config(home, jobs=job_mix(count, time.time()), schedule={"poll_ms": 1000})
            self.anchor.sample()
            self.anchor.sample_rss()
            with daemon(self.scoot, home) as (proc, _):
                time.sleep(self.settle)
                mib.append(psutil.Process(proc.pid).memory_info().rss / 2**20)
        anchor_mib = self.anchor.rss_mib
        return Result(
            "rss",
            f"daemon RSS, {count} jobs, {self.settle:g} s after the pid file",
            "MiB",
            mib,
            [m / a for m, a in zip(mib, anchor_mib, strict=True)],  # over the bare interpreter's
            [a * 1000 for a in self.anchor.seconds],
            {"bare_interpreter_rss_mib": round(statistics.median(anchor_mib), 1)},
        )

    def instant(self, scenario: str, count: int, schedule: dict[str, Any]) -> list[dict[str, Any]]:
        """`count` jobs due at one instant, each sample a fresh daemon; per-sample facts."""
        arrivals: list[float] = []
        facts: list[dict[str, Any]] = []

        def log(line: str) -> None:
            if line.startswith("POST"):
                arrivals.append(time.time())

        with ScriptedModel(FINAL, log=log) as model:
            for i in range(self.runs):
                home = self.home(f"{scenario}{i}")
                arrivals.clear()
                at = round(time.time() + self.lead, 3)
                jobs = [{"id": f"b{j}", "goal": "g", "at_unix": at} for j in range(count)]
                write_config(
                    home,
                    base_url=model.base_url,
                    jobs=jobs,
                    schedule={"poll_ms": 1000, "job_timeout_sec": 120, **schedule},
                )
                self.anchor.sample()
                runs_file = home / "state" / "runs.jsonl"
                with daemon(self.scoot, home):
                    if time.time() > at - 0.1:
                        raise SystemExit(
                            f"bench: the daemon took longer than --lead {self.lead:g} s"
                        )
                    rows = wait_for_rows(runs_file, count)
                if not rows or not arrivals:
                    raise SystemExit(f"bench: no run of {count} was recorded; see {home}")
                ids = [row["job_id"] for row in rows]
                starts = sum(1 for row in audit_rows(home) if row["kind"] == "job_start")
                facts.append(
                    {
                        "at": at,
                        "last_request": max(arrivals),
                        "requests": len(arrivals),
                        "last_end": max(row["ended_at"] for row in rows),
                        "ok": sum(1 for row in rows if row["status"] == "ok"),
                        "lost": count - len(set(ids)),
                        "doubled": len(ids) - len(set(ids)) + max(0, starts - count),
                    }
                )
        return facts

    def burst(self) -> Result:
        count = self.count(200)
        facts = self.instant("burst", count, {})
        seconds = [f["last_request"] - f["at"] for f in facts]
        return time_result(
            "burst",
            f"{count} jobs due at one instant, default cap: instant to the last model request",
            seconds,
            self.anchor,
            ok=sum(f["ok"] for f in facts),
            requests=sum(f["requests"] for f in facts),
            lost=sum(f["lost"] for f in facts),
            doubled=sum(f["doubled"] for f in facts),
        )

    def sustained(self) -> Result:
        count = self.count(500)
        facts = self.instant("sustained", count, {"max_concurrent": 16})
        rates = [count / (f["last_end"] - f["at"]) for f in facts]
        return Result(
            "sustained",
            f"sustained runs per second, {count} jobs due at once, max_concurrent = 16",
            "runs/s",
            rates,
            [1 / r / a for r, a in zip(rates, self.anchor.seconds, strict=True)],
            [a * 1000 for a in self.anchor.seconds],
            {
                "runs": count * len(facts),
                "ok": sum(f["ok"] for f in facts),
                "lost": sum(f["lost"] for f in facts),
                "doubled": sum(f["doubled"] for f in facts),
            },
        )

    def idle(self) -> Result:
        """The daemons idle side by side: --runs of them in series would take minutes."""
        count = self.count(10000)
        homes = [self.home(f"idle{i}") for i in range(self.runs)]
        for home in homes:
            write_config(home, jobs=job_mix(count, time.time()), schedule={"poll_ms": 1000})
        with (
            daemon(self.scoot, homes[0]) as (first, _),
            _more_daemons(self.scoot, homes[1:]) as others,
        ):
            procs = [first, *others]
            time.sleep(self.settle)
            before = [cpu_seconds(p.pid) for p in procs]
            # The anchors run spread over the window, alternating with its slices.
            for _ in procs:
                time.sleep(self.window / len(procs))
                self.anchor.sample()
            used = [cpu_seconds(p.pid) - b for p, b in zip(procs, before, strict=True)]
            rss = [psutil.Process(p.pid).memory_info().rss / 2**20 for p in procs]
        per_minute_ms = [u * 60 / self.window * 1000 for u in used]
        return Result(
            "idle",
            f"idle CPU, {count} jobs, settled {self.settle:g} s, over {self.window:g} s",
            "ms/min",
            per_minute_ms,
            [c / 1000 / a for c, a in zip(per_minute_ms, self.anchor.seconds, strict=True)],
            [a * 1000 for a in self.anchor.seconds],
            {"rss_mib": round(statistics.median(rss), 1)},
        )


# Run by the interpreter of the scoot under test, so an older install measures its own ledger.
LEDGER_SCRIPT = """
import json, os, sys, time
from pathlib import Path
from scoot.schedule.ledger import InFlight, JobEntry, Ledger
directory, jobs, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ledger = Ledger(directory / "ledger.json", directory / "ledger.lock")
with ledger.transaction() as entries:
    for n in range(jobs):
        entries[f"job-{n}"] = JobEntry("every:60", 1e9 + n, 1e9 + n, f"r{n}", first_seen=1e9)
real_fsync, fsyncs = os.fsync, [0]
def counting(fd):
    fsyncs[0] += 1
    real_fsync(fd)
os.fsync = counting
def files():
    found = {}
    for name in ("ledger.json", "ledger.journal"):
        try:
            st = os.stat(directory / name)
            found[name] = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            pass
    return found
def written(before, after):
    # A file replaced counts whole; an appended one, what it grew by.
    total = 0
    for name, (ino, mtime, size) in after.items():
        old = before.get(name)
        if old is None or old[0] != ino or size < old[2]:
            total += size
        elif old[1] != mtime:
            total += size - old[2]
    return total
out = []
for n in range(rounds):
    for release in (False, True):
        before, calls, started = files(), fsyncs[0], time.perf_counter()
        with ledger.transaction() as entries:
            entry = entries[f"job-{n % jobs}"]
            flight = InFlight(f"x{n}", 2e9, 2e9, os.getpid(), None)
            if hasattr(entry, "add_flight"):  # flights replaced, not changed in place
                entry.drop_flight(f"x{n}") if release else entry.add_flight(flight)
            elif release:
                entry.in_flight.pop(f"x{n}")
            else:
                entry.in_flight[f"x{n}"] = flight
        took = time.perf_counter() - started
        after = files()
        out.append([took, fsyncs[0] - calls, after["ledger.json"][1], written(before, after)])
print(json.dumps(out))
"""


@contextmanager
def _more_daemons(scoot: Path, homes: list[Path]) -> Iterator[list[subprocess.Popen[bytes]]]:
    if not homes:
        yield []
        return
    with daemon(scoot, homes[0]) as (proc, _), _more_daemons(scoot, homes[1:]) as rest:
        yield [proc, *rest]


def ledger_transactions(bench: Bench) -> Result:
    """Claims and releases in a big ledger: what each one costs and writes."""
    count = bench.count(10000)
    home = bench.home("ledger")
    home.mkdir(parents=True)
    rounds = bench.runs
    argv = [str(interpreter_of(bench.scoot)), "-c", LEDGER_SCRIPT, str(home), str(count)]
    # cwd: not this checkout, whose scoot would shadow the one under test.
    done = subprocess.run(
        [*argv, str(rounds)], capture_output=True, text=True, check=True, cwd=home
    )
    rows = orjson.loads(done.stdout)
    # A sample per round: the mean of its claim and its release.
    seconds = [
        (claim[0] + release[0]) / 2 for claim, release in zip(rows[::2], rows[1::2], strict=True)
    ]
    for _ in seconds:
        bench.anchor.sample()
    rewrites = len({row[2] for row in rows}) - 1  # changes of ledger.json's mtime
    return time_result(
        "ledger",
        f"one ledger transaction (claim or release), {count} jobs in the ledger",
        seconds,
        bench.anchor,
        fsyncs_per_transaction=statistics.median(row[1] for row in rows),
        ledger_json_rewrites=rewrites,
        bytes_per_transaction=statistics.median(row[3] for row in rows),
    )


SCENARIOS: dict[str, Callable[[Bench], Result]] = {
    "tick": Bench.tick,
    "list3": lambda b: b.listing("list3", 3),
    "list10k": lambda b: b.listing("list10k", 10000),
    "list10k-kept": lambda b: b.listing("list10k-kept", 10000, kept=True),
    "spawn": Bench.spawn,
    "rss": Bench.rss,
    "burst": Bench.burst,
    "sustained": Bench.sustained,
    "idle": Bench.idle,
    "ledger": ledger_transactions,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--runs", type=int, default=5, help="samples per figure (default 5)")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    parser.add_argument("--jobs", type=int, help="job count instead of the scenario's own")
    parser.add_argument("--scoot", type=Path, help="the `scoot` script to measure")
    parser.add_argument("--lead", type=float, default=4.0, help="s from start to a burst's instant")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="s after the pid file (rss, idle)"
    )
    parser.add_argument("--window", type=float, default=30.0, help="s of idling measured (idle)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    scoot = args.scoot.resolve() if args.scoot else install_tree()
    interpreter = interpreter_of(scoot)
    with tempfile.TemporaryDirectory(prefix="scoot-edges-") as tmp:
        scratch = Path(tmp)
        bench = Bench(
            scoot,
            Anchor(interpreter, scratch),
            scratch,
            args.runs,
            args.jobs,
            args.lead,
            args.settle,
            args.window,
        )
        if not args.json:
            print(
                f"scoot: {scoot}\nanchor: {interpreter} -c pass ({os.path.realpath(interpreter)})"
            )
        names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
        for name in names:
            bench.anchor = Anchor(interpreter, scratch)
            result = SCENARIOS[name](bench)
            if args.json:
                sys.stdout.buffer.write(orjson.dumps(asdict(result)) + b"\n")
            else:
                print(result.line())
            sys.stdout.flush()


if __name__ == "__main__":
    main()
