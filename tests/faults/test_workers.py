"""Workers that misbehave, under a real daemon: its loop, its memory and its records hold.

The daemon runs as a subprocess with real workers driven by the scripted
model. An unrestricted run's shell reaches its worker's own pipes through
`/proc/$PPID/fd/N` (fd 1 and 2: captured output, fd 4: the frame pipe), so
floods and forged frames arrive on the very pipes a broken worker would use.
A ticker job fires every second throughout and must stay on time.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from scoot.testing.model_server import ScriptedModel
from tests.faults.support import (
    account_runs,
    check_records,
    jsonl_files,
    peak_rss_while,
    processes_running,
    start_daemon,
    survivors,
    tally,
)
from tests.helpers import (
    audit,
    runs,
    stop,
    supervise,
    wait_for,
    worker_pids,
    write_config,
)
from worker import sandbox
from worker.main import FrameWriter, read_spec

SCENARIO = "workers misbehaving"
GIB = 1 << 30
MIB = 1 << 20
DAEMON_RSS_LIMIT = 64 * MIB
# Built by the shell at run time, so the literal never appears in the logged command.
LEAK_MARK = "RAWBYTES-LEAK"
FRAMES = "/proc/$PPID/fd/4"

FLOOD = (
    f"head -c {768 * MIB} /dev/zero > /proc/$PPID/fd/1; "
    f"head -c {256 * MIB} /dev/zero > /proc/$PPID/fd/2; echo flooded"
)
BAD_FRAMES = "; ".join(
    [
        'M=RAWBYTES; M="$M-LEAK"',
        # A 100 MiB line, then a malformed one, an unknown type, invalid UTF-8, a frame
        # kind only the parent may write, and a partial frame that the worker's next
        # real frame completes into garbage: six protocol errors in all.
        f'{{ printf \'{{"type":"audit","kind":"thought","msg":"\'; '
        f"head -c {100 * MIB} /dev/zero | tr '\\0' x; printf '\"}}\\n'; }} > {FRAMES}",
        f"printf '%s not json\\n' \"$M\" > {FRAMES}",
        f'printf \'{{"type":"surprise","x":"%s"}}\\n\' "$M" > {FRAMES}',
        f"printf '\\377\\376%s\\n' \"$M\" > {FRAMES}",
        f'printf \'{{"type":"audit","kind":"job_end","msg":"%s"}}\\n\' "$M" > {FRAMES}',
        f'printf \'{{"type":"result","status":"ok","ans\' > {FRAMES}',
        "echo sent",
    ]
)
# Sleep lengths unique to this test process, so other test runs on the machine never count.
ESCAPED_SLEEP = f"301.{os.getpid()}"
HUNG_SLEEP = f"302.{os.getpid()}"
HANG = f"trap '' TERM HUP; sleep {HUNG_SLEEP}"
ESCAPE = f"setsid -f sleep {ESCAPED_SLEEP} >/dev/null 2>&1 </dev/null; sleep 0.2; echo escaped"
SEGV = "kill -SEGV $PPID; sleep 5"


def bash_then_final(command: str, answer: str) -> list[dict[str, object]]:
    return [
        {"thought": "do it", "action": "bash", "action_input": command},
        {"final": answer},
    ]


SCRIPT = {
    "rules": [
        {"match": "^tick$", "steps": [{"final": "tock"}]},
        {"match": "^flood$", "steps": bash_then_final(FLOOD, "survived the flood")},
        {"match": "^frames$", "steps": bash_then_final(BAD_FRAMES, "frames sent")},
        {"match": "^hang$", "steps": bash_then_final(HANG, "unreachable")},
        {"match": "^escape$", "steps": bash_then_final(ESCAPE, "left one behind")},
        {"match": "^segv$", "steps": bash_then_final(SEGV, "unreachable")},
        {"match": "^victim$", "steps": [{"final": "too late", "delay_ms": 30000}]},
        # 30 MB of answer for a worker held to 64 MiB of address space.
        {"match": "^memhog$", "steps": [{"final": "m" * (30 * MIB)}]},
    ]
}


def bad_job(job_id: str, **extra: object) -> dict[str, object]:
    return {
        "id": job_id,
        "goal": job_id,
        "at_unix": time.time(),
        "mode": "unrestricted",
        **extra,
    }


@pytest.mark.timeout(120)
def test_daemon_survives_every_kind_of_broken_worker(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = {
        "flood": bad_job("flood"),
        "frames": bad_job("frames"),
        "hang": bad_job("hang", timeout_sec=1),
        "escape": bad_job("escape"),
        "segv": bad_job("segv"),
        "victim": bad_job("victim", mode="readonly"),
        "memhog": bad_job("memhog", mode="readonly", address_space_mb=64),
    }
    with ScriptedModel(SCRIPT) as model:
        write_config(
            home,
            base_url=model.base_url,
            schedule={"max_concurrent": 10, "kill_grace_sec": 1},
            sections={"backend": {"timeout_ms": 60000}, "tools": {"timeout_ms": 120000}},
            jobs=[{"id": "ticker", "goal": "tick", "every_sec": 1}, *bad.values()],
        )
        daemon = start_daemon(home)

        def victim_pid() -> int | None:
            hellos = [r for r in audit(home) if r["kind"] == "sandbox" and r["job_id"] == "victim"]
            return hellos[0]["pid"] if hellos else None

        os.kill(wait_for(victim_pid), signal.SIGKILL)

        def all_bad_ended() -> bool:
            return set(bad) <= {row["job_id"] for row in runs(home)}

        peak_rss = peak_rss_while(daemon.pid, all_bad_ended, timeout=60)
        # The ticker must go on firing after the storm, too.
        ticks_then = len(ticker_starts(audit(home)))
        wait_for(lambda: len(ticker_starts(audit(home))) >= ticks_then + 2, timeout=5)
        assert daemon.poll() is None, "the daemon died"
        out, err = stop(daemon)
    assert daemon.returncode == 0, err
    assert "Traceback" not in out + err

    rows = {row["job_id"]: row for row in runs(home) if row["job_id"] in bad}
    events = audit(home)
    ends = {e["job_id"]: e for e in events if e["kind"] == "job_end" and e["job_id"] in bad}

    assert rows["flood"]["status"] == "ok"
    assert ends["flood"]["output_bytes"] >= GIB
    assert peak_rss <= DAEMON_RSS_LIMIT, f"daemon RSS peaked at {peak_rss / MIB:.1f} MiB"

    assert rows["frames"]["status"] == "ok" and rows["frames"]["answer"] == "frames sent"
    errors = [e for e in events if e["kind"] == "protocol_error" and e["job_id"] == "frames"]
    assert len(errors) == 6, [e["msg"] for e in errors]
    assert "exceeds" in errors[0]["msg"]

    assert rows["hang"]["status"] == "timeout"
    assert rows["escape"]["status"] == "ok"
    assert any(e["kind"] == "stragglers_killed" for e in events)
    assert rows["segv"]["status"] == "crashed" and rows["segv"]["signal"] == "SIGSEGV"
    assert rows["victim"]["status"] == "crashed" and rows["victim"]["signal"] == "SIGKILL"
    assert rows["memhog"]["status"] in ("error", "crashed"), rows["memhog"]
    assert "memory" in (rows["memhog"]["error"] or "") or rows["memhog"]["signal"], rows["memhog"]

    # Nothing raw reached any record.
    for path in jsonl_files(home):
        assert LEAK_MARK.encode() not in path.read_bytes(), path

    # No process of any run survives.
    assert survivors(worker_pids(home), within=1.0) == []
    assert processes_running(["sleep", ESCAPED_SLEEP]) == []
    assert processes_running(["sleep", HUNG_SLEEP]) == []

    assert_ticker_on_time(events, at_least=3)
    check_records(home, SCENARIO)
    assert account_runs(home, SCENARIO) == (0, 0)
    counts = tally(SCENARIO)
    counts.trials += 1
    counts.faults_survived += len(bad)
    counts.bad_inputs += len(errors)


def ticker_starts(events: list[dict]) -> list[dict]:
    return [e for e in events if e["kind"] == "job_start" and e["job_id"] == "ticker"]


def assert_ticker_on_time(events: list[dict], at_least: int = 4) -> None:
    """Every second's instant was decided on time: fired, or skipped while the last one ran.

    A ticker run slowed by the storm may overlap the next instant (an honest,
    audited skip); a missed instant or a late start would mean a stalled loop.
    """
    mine = [e for e in events if e.get("job_id") == "ticker"]
    assert not [e for e in mine if e["kind"] == "job_missed"]
    skipped = [e for e in mine if e["kind"] == "job_skipped"]
    assert all(e["reason"] == "overlap" for e in skipped)
    starts = ticker_starts(events)
    instants = sorted(e["instant"] for e in starts + skipped)
    assert len(starts) >= at_least
    gaps = [b - a for a, b in zip(instants, instants[1:], strict=False)]
    assert all(abs(gap - 1.0) < 1e-6 for gap in gaps), gaps
    lateness = [e["ts"] / 1000 - e["instant"] for e in starts + skipped]
    assert max(lateness) < 1.0, lateness


# --- in this process: a real Supervisor, worker bodies that misbehave -----------------


def signal_the_parent(spec_fd: int, frame_fd: int, parent_pid: int) -> int:
    """A readonly worker that, once confined as every readonly run is, signals its parent."""
    emit = FrameWriter(frame_fd)
    spec = read_spec(spec_fd)
    report = sandbox.apply(
        spec["mode"],
        sandbox.Limits.from_config(spec["sandbox"]["limits"]),
        scratch_dir=spec["sandbox"]["scratch_dir"],
        backend_port=None,
        require=True,
        parent_pid=parent_pid,
    )
    emit(
        {
            "type": "hello",
            "pid": os.getpid(),
            "run_id": spec["run_id"],
            "job_id": spec["job_id"],
            "mode": spec["mode"],
            "sandbox": report.to_dict(),
        }
    )
    if spec["goal"] == "behave":
        emit({"type": "result", "status": "ok", "answer": "fine", "error": None})
        return 0
    outcomes = []
    for signum in (0, signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        try:
            os.kill(parent_pid, signum)
            outcomes.append("delivered")
        except OSError as exc:
            outcomes.append(errno.errorcode.get(exc.errno or 0, str(exc.errno)))
    emit({"type": "result", "status": "ok", "answer": " ".join(outcomes), "error": None})
    return 0


def test_a_readonly_run_cannot_signal_the_daemon(tmp_path: Path) -> None:
    abi, why = sandbox.landlock_abi()
    if abi < 6:
        pytest.skip(f"signal scoping needs Landlock ABI 6: {why}")
    # One slot: had a signal got through, the run queued behind would be interrupted.
    supervisor, _ = supervise(
        tmp_path / "home", signal_the_parent, ["attack", "behave"], max_concurrent=1
    )
    (attack, attacked), (behave, behaved) = supervisor.summary.outcomes
    assert attacked.answer == "EPERM EPERM EPERM EPERM"
    assert behaved.status == "ok"
    assert supervisor.summary.stop_reason == "loop_end"
    check_records(tmp_path / "home", SCENARIO)
    counts = tally(SCENARIO)
    counts.trials += 1
    counts.faults_survived += 4


def misbehaving_body(spec_fd: int, frame_fd: int, parent_pid: int) -> int:
    """What each job's worker does is named by its goal; the ticker behaves."""
    emit = FrameWriter(frame_fd)
    spec = read_spec(spec_fd)
    goal = spec["goal"]
    emit(
        {
            "type": "hello",
            "pid": os.getpid(),
            "run_id": spec["run_id"],
            "job_id": spec["job_id"],
            "mode": spec["mode"],
            "sandbox": {"summary": "test body"},
        }
    )
    if goal == "stubborn":  # ignores SIGTERM and hangs past its timeout
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(60)
    elif goal == "mute":  # exits without a result
        return 3
    elif goal == "breeder":  # leaves busy children in its process group
        for _ in range(3):
            if os.fork() == 0:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                while True:
                    time.sleep(1)
    emit({"type": "result", "status": "ok", "answer": goal, "error": None})
    return 0


@pytest.mark.timeout(60)
def test_workers_that_ignore_sigterm_or_say_nothing_never_delay_other_jobs(tmp_path: Path) -> None:
    from scoot.instance.open import open_instance
    from scoot.records.runlog import RunLog
    from scoot.schedule.ledger import Ledger
    from scoot.schedule.scheduler import Scheduler
    from scoot.supervise.opening import make_recorder
    from scoot.supervise.supervisor import Settings, Supervisor

    home = tmp_path / "home"
    write_config(
        home,
        jobs=[
            {"id": "ticker", "goal": "tick", "every_sec": 1},
            {"id": "stubborn", "goal": "stubborn", "at_unix": time.time(), "timeout_sec": 1},
            {"id": "mute", "goal": "mute", "every_sec": 1},
            {"id": "breeder", "goal": "breeder", "at_unix": time.time()},
        ],
    )
    instance = open_instance(str(home))
    lines: list[str] = []
    recorder = make_recorder(instance, None, lines.append)
    ledger = Ledger(instance.home.ledger, instance.home.ledger_lock)
    scheduler = Scheduler(instance.jobset.jobs, ledger, now=time.time())
    supervisor = Supervisor(
        home=instance.home,
        config=instance.config,
        token=None,
        recorder=recorder,
        runlog=RunLog(lines.append, lines.append),
        settings=Settings(ticks=40, poll_ms=100, kill_grace_sec=1, max_concurrent=4),
        scheduler=scheduler,
        worker_body=misbehaving_body,
    )
    try:
        summary = supervisor.run()
    finally:
        recorder.audit.close()
    by_job: dict[str, list[str]] = {}
    for request, outcome in summary.outcomes:
        by_job.setdefault(str(request.job_id), []).append(outcome.status)
    assert by_job["stubborn"] == ["timeout"]
    assert set(by_job["mute"]) == {"crashed"} and len(by_job["mute"]) >= 3
    assert by_job["breeder"] == ["ok"]
    events = audit(home)
    stragglers = [e for e in events if e["kind"] == "stragglers_killed"]
    assert sum(e["count"] for e in stragglers) >= 3
    assert_ticker_on_time(events, at_least=3)
    workers = worker_pids(home)
    assert survivors(workers, within=1.0) == []
    time.sleep(0.1)
    assert group_members(set(workers)) == []  # each worker led its group: nothing is left in one
    check_records(home, SCENARIO)
    assert account_runs(home, SCENARIO) == (0, 0)
    counts = tally(SCENARIO)
    counts.trials += 1
    counts.faults_survived += 3


def group_members(groups: set[int]) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) in groups:
                found.append(proc.pid)
        except (OSError, psutil.Error):
            continue
    return found
