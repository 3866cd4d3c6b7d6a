"""No process of a run outlives it: its group, whatever carries its mark, and escaped orphans."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from scoot.records.recorder import Recorder
from scoot.shared.procgroup import kill_group
from scoot.supervise.procs import (
    Killed,
    all_pids,
    child_pids,
    children_of,
    describe_killed,
    group_members,
    read_stat,
    subtrees,
    sweep_runs,
)
from scoot.supervise.runner import ActiveRun

PR_SET_CHILD_SUBREAPER = 36
# How long the orphan sweep waits for the processes it killed to be reaped.
ORPHAN_REAP_SEC = 2.0


class ProcessSweep:
    """Ends what a finished run left behind; as child subreaper, also what escaped its group.

    `reap` is the run table's one reaper; `is_worker` says whether a pid is a
    live worker (never swept).
    """

    def __init__(
        self,
        *,
        as_subreaper: bool,
        recorder: Recorder,
        reap: Callable[[], list[int]],
        is_worker: Callable[[int], bool],
    ) -> None:
        self.as_subreaper = as_subreaper
        self.recorder = recorder
        self.reap = reap
        self.is_worker = is_worker
        self.own_children: set[int] = set()  # children that predate the loop are not orphans

    def start(self) -> None:
        if not self.as_subreaper:
            return
        self.own_children = set(children_of(os.getpid()))
        _become_subreaper()

    def adopt(self, pid: int) -> None:
        """A helper process of this one (the notification courier): never swept as an orphan."""
        self.own_children.add(pid)

    def _reap(self) -> None:
        self.reap()

    def _stray(self, pid: int) -> bool:
        return not self.is_worker(pid) and pid not in self.own_children

    def end_processes_of(self, run: ActiveRun, *, group: bool = True) -> None:
        """Its group (unless `group` is False), then whatever carries its mark; audited
        when anything was left."""
        killed = _kill_group(run.pid) if group else []
        killed += sweep_runs({run.request.run_id}, self._candidates, reap=self._reap)
        if killed:
            self.recorder.run_event(
                run.request,
                "stragglers_killed",
                f"killed {describe_killed(killed)} left behind by run {run.request.run_id}",
                count=len(killed),
                pids=[k.pid for k in killed],
                names=[k.name for k in killed],
            )

    def _candidates(self) -> list[int]:
        """Where an ended run's processes can be.

        As subreaper: below us, and not below a live worker. When a worker
        exits, the kernel re-parents what it leaves to us before we reap it,
        so the trees of our other children are all there is to look at
        (usually none: nothing is read). Otherwise: anywhere.
        """
        if not self.as_subreaper:
            return all_pids()
        children = child_pids(os.getpid())
        if children is not None:
            found = subtrees([pid for pid in children if self._stray(pid)])
            if found is not None:
                return found
        return all_pids()

    def kill_orphans(self) -> None:
        """As subreaper we inherit descendants that escaped a run's group: end them."""
        if not self.as_subreaper:
            return
        killed: list[int] = []
        for child in children_of(os.getpid()):
            if not self._stray(child):
                continue
            stat = read_stat(child)
            if stat is None or stat.dead:
                continue  # ended already: the reaper collects it
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                continue
            killed.append(child)
            self.recorder.event(
                "stragglers_killed",
                f"killed process {child} that escaped its run's process group",
                pid=child,
                count=1,
            )
        self._collect(killed)

    def _collect(self, pids: list[int]) -> None:
        """Reap what was just killed, so no zombie of it outlives the sweep."""
        left = set(pids)
        deadline = time.monotonic() + ORPHAN_REAP_SEC
        while left:
            left -= set(self.reap())
            if not left or time.monotonic() >= deadline:
                return
            time.sleep(0.002)


def _kill_group(pgid: int) -> list[Killed]:
    """SIGKILL whatever is left in a finished run's process group; return what."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return []
    members = [Killed(pid, name or "?", "") for pid, name in group_members(pgid)]
    kill_group(pgid)
    return members


def _become_subreaper() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
