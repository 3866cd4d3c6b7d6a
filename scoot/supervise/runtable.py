"""The run table: the runs this process started, by worker pid.

It launches a request (directories, spec, fork), demultiplexes each worker's
frames and output from the loop's selector, reaps every ended child through
one reaper, and writes each run's ending.
"""

from __future__ import annotations

import selectors
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from scoot.instance.home import Home
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.shared.frames import AuditFrame, UsageFrame
from scoot.shared.run_spec import RunSpec
from scoot.supervise import deadlines
from scoot.supervise.events import RunEnded, RunEvents, RunLaunched, RunStarting
from scoot.supervise.holding import Held, HeldRuns, holds
from scoot.supervise.launch import WorkerBody, launch_worker
from scoot.supervise.reaper import reap_children
from scoot.supervise.releases import LedgerReleases
from scoot.supervise.runner import ActiveRun, Outcome, RunRequest
from scoot.supervise.runqueue import start_at
from scoot.supervise.settings import Settings, Summary
from scoot.supervise.spec import build_spec
from scoot.supervise.spending import Spending
from scoot.supervise.sweep import ProcessSweep

FRAMES, OUTPUT = "frames", "output"  # which pipe of a run a selector key reads


class RunTable:
    def __init__(
        self,
        *,
        home: Home,
        recorder: Recorder,
        runlog: RunLog,
        events: RunEvents,
        selector: selectors.BaseSelector,
        spending: Spending,
        summary: Summary,
        releases: LedgerReleases,
        as_subreaper: bool,
        model_retries: int | None,
        worker_body: WorkerBody | None,
        clock: Callable[[], float],
    ) -> None:
        self.home = home
        self.recorder = recorder
        self.runlog = runlog
        self.events = events
        self.selector = selector
        self.spending = spending
        self.summary = summary
        self.releases = releases
        self.model_retries = model_retries  # what `-e --retries` asked of each model call
        self.worker_body = worker_body
        self.clock = clock
        self.active: dict[int, ActiveRun] = {}
        self.held = HeldRuns()  # forked ahead of their instant (scoot.supervise.holding)
        self.sweep = ProcessSweep(
            as_subreaper=as_subreaper,
            recorder=recorder,
            reap=self.reap,
            is_worker=lambda pid: pid in self.active or self.held.has_pid(pid),
        )

    def __len__(self) -> int:
        return len(self.active)

    def backend_free(self, request: RunRequest) -> bool:
        """Whether its backend's max_concurrent leaves room beside the runs in flight."""
        return self.spending.backend_free(
            request, [r.request.backend for r in self.active.values()]
        )

    def slot_free(self, max_concurrent: int) -> Callable[[RunRequest], bool]:
        """Whether a request would find a slot: a held run keeps the one it took when forked."""
        taken = len(self.active) + len(self.held)
        return lambda request: taken - (request.run_id in self.held) < max_concurrent

    def runs_job(self, job_id: str) -> bool:
        return any(run.request.job_id == job_id for run in self.active.values())

    # -- launch ---------------------------------------------------------------
    def launch(self, request: RunRequest) -> None:
        held = self.held.take(request.run_id)
        if held is not None:
            self.events.publish(RunStarting(request))  # the trace comes before the worker acts
            held.worker.go()
            worker, allowance = held.worker, held.allowance
        else:
            problem = self._make_dirs(request)
            if problem is not None:
                self.never_started(request, "error", problem)
                return
            allowance = self.spending.allowance(request)
            spec = self._spec_for(request, allowance)
            self.events.publish(RunStarting(request))
            try:
                worker = launch_worker(spec, self.worker_body)
            except OSError as exc:
                self.never_started(request, "error", f"cannot start worker: {exc.strerror}")
                return
        run = ActiveRun(request, worker, self.clock(), allowance)
        if held is not None and held.wait_status is not None:  # it died while held
            run.wait_status, run.rusage_maxrss_kb = held.wait_status, held.maxrss_kb
            run.group_gone = True  # reaped long ago: its pid, and group, may be another's
        self.active[worker.pid] = run
        self.events.publish(RunLaunched(request, run.started_at))
        self.selector.register(worker.frame_fd, selectors.EVENT_READ, (run, FRAMES))
        self.selector.register(worker.output_fd, selectors.EVENT_READ, (run, OUTPUT))

    def hold_ahead(
        self, queue: Iterable[RunRequest], now: float, settings: Settings, stopping: bool
    ) -> None:
        """Fork the queued scheduled runs due within the claim lead, held, while slots last."""
        for request in queue:
            if stopping or len(self.active) + len(self.held) >= settings.max_concurrent:
                return
            ahead = start_at(request) - now
            cap = self.spending.cap_of(request.backend)
            if request.run_id not in self.held and holds(
                request, ahead, settings.claim_lead_sec, cap
            ):
                self._hold(request)

    def _hold(self, request: RunRequest) -> None:
        if self._make_dirs(request) is not None:
            return  # its launch at the instant records what failed
        allowance = self.spending.allowance(request)
        try:
            worker = launch_worker(self._spec_for(request, allowance), self.worker_body, held=True)
        except OSError:
            return  # forked the usual way at its instant, where a failure is recorded
        self.held.add(request.run_id, Held(worker, allowance))

    def _make_dirs(self, request: RunRequest) -> str | None:
        """Its scratch directory and, for a job without cwd, its workspace; else what failed."""
        try:
            (self.home.scratch / request.run_id).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            return f"cannot create scratch dir: {exc.strerror}"
        if request.own_workspace:
            workspace = self.home.workspace(request.job_id or "adhoc")
            try:
                workspace.parent.mkdir(mode=0o700, exist_ok=True)
                workspace.mkdir(mode=0o700, exist_ok=True)
            except OSError as exc:
                return f"cannot create workspace: {exc.strerror}"
        return None

    def _spec_for(self, request: RunRequest, allowance: dict[str, Any]) -> RunSpec:
        """The one place a run's spec is built: at launch, from the request."""
        spending = self.spending
        return build_spec(
            spending.config,
            self.home,
            request,
            token=spending.token,
            cwd=request.cwd,
            limits=dict(request.limits),
            retries=self.model_retries,
            backend_name=request.backend,
            allowance=allowance,
            token_for=spending.token_for,
            expect_schema=request.result_schema,  # told to the model
        )

    def never_started(self, request: RunRequest, status: str, reason: str) -> None:
        if self.held.call_off(request.run_id):
            _remove_scratch(str(self.home.scratch / request.run_id))
        outcome = Outcome(status, None, reason, None, None, 0, None)
        self.events.publish(RunEnded(request, outcome, None))
        self.summary.never_started += 1
        self.releases.add(request)

    # -- the pipes ------------------------------------------------------------
    def readable(self, run: ActiveRun, which: str) -> None:
        if which == FRAMES:
            self._take_frames(run)
            return
        run.read_output()
        if not run.output_open:
            self._unregister(run.worker.output_fd)

    def _take_frames(self, run: ActiveRun) -> None:
        for frame in run.read_frames():
            if isinstance(frame, UsageFrame):
                self.spending.take_usage(run, frame)
            self.recorder.frame(run, frame)
            if isinstance(frame, AuditFrame):
                self.runlog.step(run.request, frame.kind, frame.msg)
        if not run.frames_open:
            self._unregister(run.worker.frame_fd)

    def _unregister(self, fd: int) -> None:
        try:
            self.selector.unregister(fd)
        except (KeyError, ValueError):
            pass

    # -- the ending -----------------------------------------------------------
    def reap(self) -> list[int]:
        """Collect every ended child; a worker's exit is kept on its run. Returns the pids."""
        reaped, children_left = reap_children()
        for child in reaped:
            run = self.active.get(child.pid)
            if run is not None and not run.exited:
                run.wait_status = child.wait_status
                run.rusage_maxrss_kb = child.maxrss_kb
            else:
                self.held.reaped(child.pid, child.wait_status, child.maxrss_kb)
        if not children_left:
            # No child at all, yet a run counts as live: its worker was reaped elsewhere.
            for run in self.active.values():
                if not run.exited:
                    run.wait_status = 0
        return [child.pid for child in reaped]

    def collect_ended(self) -> list[tuple[ActiveRun, Outcome]]:
        """Reap, then take every run whose worker has exited out of the table (not recorded yet)."""
        self.reap()
        ended = [run for run in self.active.values() if run.exited]
        collected = [(run, self.collect(run)) for run in ended]
        # Escaped descendants are reparented to us when their run's processes end; the
        # sweep scans the process table, so it runs only then, not on every wake-up.
        if ended:
            self.sweep.kill_orphans()
        return collected

    def enforce_deadlines(self, stop_cause: str | None, kill_grace_sec: float) -> None:
        """Time limits, the stop grace (`stop_cause`: it is over), then SIGKILL after the grace."""
        deadlines.enforce(
            self.active.values(),
            time.monotonic(),
            stop_cause=stop_cause,
            kill_grace_sec=kill_grace_sec,
            on_timeout=self._timed_out,
        )

    def _timed_out(self, run: ActiveRun) -> None:
        self.recorder.run_event(
            run.request,
            "job_timeout",
            f"run {run.request.run_id} exceeded {run.request.timeout_sec:g} s; SIGTERM sent",
            timeout_sec=run.request.timeout_sec,
        )

    def collect(self, run: ActiveRun) -> Outcome:
        """Leave the table: its last frames and output, its slot, its left-behind processes."""
        # Everything the worker wrote before exiting is still in the pipes.
        self._take_frames(run)
        run.read_output()
        self._unregister(run.worker.frame_fd)
        self._unregister(run.worker.output_fd)
        run.close_pipes()
        del self.active[run.pid]
        self.sweep.end_processes_of(run, group=not run.group_gone)
        return run.outcome(time.monotonic())

    def record(self, run: ActiveRun, outcome: Outcome) -> Outcome:
        """Write its ending (runs.jsonl, job_end, subscribers); returns the outcome recorded."""
        outcome = _checked_result(run.request, outcome)
        record = self.recorder.record(run.request, run.started_at, outcome)
        self.events.publish(RunEnded(run.request, outcome, run, record))
        self.summary.add(run.request, outcome)
        self.releases.add(run.request)
        _remove_scratch(str(self.home.scratch / run.request.run_id))
        return outcome


def _checked_result(request: RunRequest, outcome: Outcome) -> Outcome:
    """expect_schema: an ok answer that does not validate ends the run invalid_result."""
    if request.result_schema is None or outcome.status != "ok":
        return outcome
    from scoot.notify.schema import INVALID_RESULT, result_problem

    problem = result_problem(request.result_schema, outcome.answer)
    return outcome if problem is None else replace(outcome, status=INVALID_RESULT, error=problem)


def _remove_scratch(path: str) -> None:
    from scoot.supervise.scratch import remove_scratch_dir

    try:
        remove_scratch_dir(path)
    except OSError:
        pass  # left for the operator; it holds nothing the records need
