"""Process identity and the leftover sweep, read from /proc, on real child processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from scoot.shared.contract import RUN_MARK
from scoot.supervise import procs
from tests.helpers import wait_for

# A child that names itself awkwardly (parentheses and spaces), then sleeps.
NAMED = "import sys, time; open('/proc/self/comm', 'w').write(sys.argv[1]); time.sleep(60)"


@contextmanager
def child(
    *argv: str, env: dict[str, str] | None = None, **kw: object
) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(list(argv), env={**os.environ, **(env or {})}, **kw)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def name_of(pid: int) -> str | None:
    stat = procs.read_stat(pid)
    return None if stat is None else stat.name


def test_start_time_and_name_match_what_psutil_reads() -> None:
    with child(sys.executable, "-c", NAMED, "a) b (c") as proc:
        wait_for(lambda: name_of(proc.pid) == "a) b (c")
        stat = procs.read_stat(proc.pid)
        assert stat is not None
        assert stat.ppid == os.getpid()
        assert not stat.dead
        started = procs.start_time_of(proc.pid)
        assert started is not None
        assert started == psutil.Process(proc.pid).create_time()  # the same float, to the bit
        assert procs.is_alive(proc.pid, started)
        assert procs.is_alive(proc.pid, None)
        # Another process's start time: the pid was reused.
        assert not procs.is_alive(proc.pid, started - 10)


def test_a_zombie_and_a_reaped_process_are_not_alive() -> None:
    proc = subprocess.Popen(["sleep", "60"])
    started = procs.start_time_of(proc.pid)
    assert started is not None and procs.is_alive(proc.pid, started)
    proc.kill()
    wait_for(lambda: (stat := procs.read_stat(proc.pid)) is not None and stat.dead)
    assert not procs.is_alive(proc.pid, started)
    assert not procs.is_alive(proc.pid, None)
    proc.wait()
    assert procs.read_stat(proc.pid) is None
    assert procs.start_time_of(proc.pid) is None
    assert not procs.is_alive(0, None) and procs.read_stat(-1) is None


def test_children_subtrees_and_group_members() -> None:
    # A shell (its own group) with a sleep below it.
    script = "sleep 60 & wait"
    with child("sh", "-c", script, start_new_session=True) as shell:
        # Until the child has exec'd, it is a copy of the shell, named like it.
        wait_for(lambda: "sleep" in dict(procs.group_members(shell.pid)).values())
        assert len(procs.child_pids(shell.pid) or []) == 1
        assert shell.pid in procs.children_of(os.getpid())
        tree = procs.subtrees([shell.pid])
        assert tree is not None and len(tree) == 2 and tree[0] == shell.pid
        members = dict(procs.group_members(shell.pid))
        assert set(members) == set(tree)
        assert members[shell.pid] == "sh" and "sleep" in members.values()
        assert shell.pid in procs.all_pids()


def test_sweep_kills_every_marked_process_and_only_those() -> None:
    mark = f"run-{os.getpid()}-{time.time_ns()}"
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    with (
        child(*sleeper, env={RUN_MARK: mark}) as marked,
        child(*sleeper, env={RUN_MARK: mark + "-other"}) as other,
    ):
        # Each environment is the new program's once it has exec'd.
        wait_for(lambda: procs.run_mark_of(marked.pid) == mark)
        wait_for(lambda: procs.run_mark_of(other.pid) == mark + "-other")
        killed = procs.sweep_runs({mark}, reap=lambda: marked.poll() and None)
        assert [(k.pid, k.run_id) for k in killed] == [(marked.pid, mark)]
        assert marked.wait(timeout=10) == -9
        assert other.poll() is None
        assert procs.describe_killed(killed) == f"pid {marked.pid} ({killed[0].name})"
        assert procs.sweep_runs(set()) == []


def test_a_reused_pid_is_not_killed() -> None:
    with child(sys.executable, "-c", "import time; time.sleep(60)") as proc:
        wait_for(lambda: procs.read_stat(proc.pid) is not None)
        stat = procs.read_stat(proc.pid)
        assert stat is not None
        older = procs.ProcStat(stat.name, stat.state, stat.ppid, stat.pgrp, stat.start_ticks - 1)
        assert not procs.kill_same(proc.pid, older)
        assert proc.poll() is None
        assert procs.kill_same(proc.pid, stat)
        assert proc.wait(timeout=10) == -9
