"""The supervisor loop shared by `schedule run`, `daemon run`, `schedule trigger` and `-e`.

One thread, one selector over the workers' pipes and a signal wakeup fd, in
the arbiter style: signal handlers only queue and wake; each pass handles the
queued signals, finishes the runs that ended, enforces deadlines, polls the
scheduler, launches what fits, then sleeps until the earliest of the next due
instant, the next poll, a run's deadline, a worker event or a signal.

The parts: the run table (scoot.supervise.runtable), deadlines, the poller,
spending, ledger releases, reload, and the run events fan-out.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import selectors
import signal
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from scoot.instance.config import Config
from scoot.instance.home import Home
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.schedule.jobs import Job
from scoot.schedule.scheduler import Scheduler
from scoot.supervise import deadlines, runqueue
from scoot.supervise.events import (
    PauseCounter,
    RunEvents,
    RunObserver,
    log_to,
    record_to,
    tell_observers,
)
from scoot.supervise.hooks import Endpoint, Hooks
from scoot.supervise.launch import WorkerBody
from scoot.supervise.poller import Poller
from scoot.supervise.preload import preload_worker
from scoot.supervise.releases import LedgerReleases
from scoot.supervise.reload import announce, classify, live_schedule, replace_jobs
from scoot.supervise.requests import RequestMaker
from scoot.supervise.retries import next_attempt
from scoot.supervise.runner import ActiveRun, Outcome, RunRequest
from scoot.supervise.runtable import RunTable
from scoot.supervise.settings import Settings, Summary
from scoot.supervise.signals import SignalQueue
from scoot.supervise.spending import Spending

__all__ = ["Endpoint", "Hooks", "Settings", "Summary", "Supervisor", "stall_length"]

# Waking later than planned by more than this is a stall worth recording.
STALL_AFTER_SEC = 3.0
# With runs in flight the loop looks at them at least this often, even if a SIGCHLD was coalesced.
RUN_CHECK_SEC = 0.5

# (config, jobs) from a reload, or None when the new config is unusable.
Reloaded = tuple[Config, tuple[Job, ...]]


def stall_length(wake_by_mono: float, now_mono: float) -> float | None:
    """How late the loop woke, when that is a stall; None otherwise."""
    late = now_mono - wake_by_mono
    return late if late > STALL_AFTER_SEC else None


class Supervisor:
    """Owns timing and the lifecycle of every worker this process starts."""

    def __init__(
        self,
        *,
        home: Home,
        config: Config,
        token: str | None,
        recorder: Recorder,
        runlog: RunLog,
        settings: Settings,
        scheduler: Scheduler | None = None,
        hooks: Hooks | None = None,
        reload: Callable[[], Reloaded | None] | None = None,
        cwd: str | None = None,
        retries: int | None = None,
        clock: Callable[[], float] = time.time,
        worker_body: WorkerBody | None = None,
        signals: SignalQueue | None = None,
    ) -> None:
        self.home, self.config, self.settings = home, config, settings
        self.recorder, self.runlog = recorder, runlog
        self.scheduler = scheduler
        self.hooks = hooks or Hooks()
        self.clock = clock
        self._reload = reload
        self.requests = RequestMaker(home, config, cwd or os.getcwd(), settings.job_timeout_sec)
        self.selector = selectors.DefaultSelector()
        self.signals = signals or SignalQueue()
        self._owns_signals = signals is None  # a daemon keeps its queue until it has stopped
        self.queue: deque[RunRequest] = deque()
        self.endpoints: list[Endpoint] = []  # served from the selector (metrics)
        self.observers: list[RunObserver] = []  # metrics, daemon.json, notifications
        self._observer_failing = False
        self.summary = Summary()
        self.spending = Spending(
            home=home, config=config, token=token, recorder=recorder, runlog=runlog, clock=clock
        )
        self.releases = LedgerReleases(
            scheduler=scheduler,
            recorder=recorder,
            runlog=runlog,
            runs_path=home.runs,
            outage_dir=scheduler.ledger.path.parent if scheduler else home.state,
            delay_sec=settings.release_delay_sec,
        )
        self.events = self._run_events()
        self.runs = RunTable(
            home=home,
            recorder=recorder,
            runlog=runlog,
            events=self.events,
            selector=self.selector,
            spending=self.spending,
            summary=self.summary,
            releases=self.releases,
            as_subreaper=settings.reap_orphans,
            retries=retries,
            worker_body=worker_body,
            clock=clock,
        )
        self.poller = Poller(
            scheduler=scheduler,
            recorder=recorder,
            runlog=runlog,
            releases=self.releases,
            emit=self._emit,
            clock=clock,
        )
        if scheduler is not None:
            scheduler.is_running = self.is_job_running
            scheduler.budget_spent = self.spending.budget_spent
        self.firing = settings.use_scheduler  # False once ticks are used up or a stop began
        self.stopping = False
        self.shutdown_deadline: float | None = None
        self._next_heartbeat = 0.0
        self._wake_by_mono: float | None = None  # when the current wait should end
        self._stop_reason: str | None = None
        self._last_waiting: dict[str, int] = {}  # as last told to the hooks
        self._noted_waiting: set[str] = set()  # run ids whose wait for a backend was audited

    def _run_events(self) -> RunEvents:
        """Records, run log, observers, pause counter: each hears every run event, in that order."""
        events = RunEvents()
        events.subscribe(record_to(self.recorder))
        events.subscribe(tell_observers(self._emit, self.clock))
        events.subscribe(log_to(self.runlog))
        pauses = PauseCounter(
            self.scheduler, self.recorder, self.runlog, self.clock, on_paused=self._paused
        )
        events.subscribe(pauses)
        return events

    # -- public ---------------------------------------------------------------
    @property
    def active(self) -> dict[int, ActiveRun]:
        """The runs in flight, by worker pid."""
        return self.runs.active

    @property
    def running_count(self) -> int:
        return len(self.runs)

    def is_job_running(self, job_id: str) -> bool:
        return self.runs.runs_job(job_id) or any(q.job_id == job_id for q in self.queue)

    def add_endpoint(self, endpoint: Endpoint) -> None:
        self.endpoints.append(endpoint)

    def observe(self, observer: RunObserver) -> None:
        self.observers.append(observer)

    def adopt_child(self, pid: int) -> None:
        """A helper process of this one (the notification courier): never swept as an orphan."""
        self.runs.sweep.adopt(pid)

    def submit(self, request: RunRequest) -> None:
        self.queue.append(request)

    def waiting_by_backend(self) -> dict[str, int]:
        """Runs due now that wait for a free slot of their backend (max_concurrent)."""
        return runqueue.waiting_by_backend(self.queue, self.clock(), self._backend_free)

    def request_stop(self, reason: str) -> None:
        """Begin a graceful stop: launch nothing new, give runs the grace, then end them."""
        now_mono = time.monotonic()
        if self.stopping:
            self.shutdown_deadline = now_mono  # a second signal skips the grace
            self.hooks.stopping_now(self)
            return
        self.stopping = True
        self.firing = False
        self._stop_reason = reason
        self.shutdown_deadline = now_mono + self.settings.shutdown_grace_sec
        while self.queue:
            reason_text = "stopped before it could start (shutdown)"
            self.runs.never_started(self.queue.popleft(), "interrupted", reason_text)
        self.hooks.stopping(self, self.settings.shutdown_grace_sec)

    def run(self) -> Summary:
        preload_worker()
        # Objects that exist now are never collected in a forked worker: without this
        # a worker's first collection walks them all, and copying the pages it writes
        # to made up much of a run's start-up (bench/minute_boundary.py).
        gc.freeze()
        self.signals.install()
        self.selector.register(self.signals.read_fd, selectors.EVENT_READ, None)
        for endpoint in self.endpoints:
            endpoint.attach(self.selector)
        self.runs.sweep.start()
        try:
            self.hooks.ready(self)
            self._loop()
        finally:
            for endpoint in self.endpoints:
                endpoint.close()
            if self._owns_signals:
                self.signals.uninstall()
            self.selector.close()
            self._emit("stopped")
        self.summary.stop_reason = self._stop_reason or (
            "ticks" if self.settings.ticks else "loop_end"
        )
        return self.summary

    # -- run events -----------------------------------------------------------
    def _emit(self, kind: str, **fields: Any) -> None:
        for observer in self.observers:
            try:
                observer(kind, fields)
            except Exception as exc:  # an observer is never worth a fire or a record
                if not self._observer_failing:
                    self._observer_failing = True
                    self.runlog.warn(f"run event subscriber failed on {kind}: {exc}")

    def _paused(self, job_id: str, reason: str) -> None:
        """pause_after_failures paused a job (audited already): tell observers and hooks."""
        self._emit("job_paused", job_id=job_id, reason=reason)
        self.hooks.job_paused(self, job_id, reason)

    # -- the loop -------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            self._note_stall()
            self._handle_signals()
            self._finish_ended()
            self._enforce_deadlines()
            if self.firing:
                self._poll()
            self._launch_queued()
            self.releases.release(force=False)
            self._heartbeat()
            for endpoint in self.endpoints:
                endpoint.expire()
            if self._done():
                self.releases.release(force=True)
                self.releases.warn_unwritten()
                return
            timeout = self._sleep_for()
            self._wake_by_mono = time.monotonic() + timeout
            self._wait(timeout)

    def _note_stall(self) -> None:
        """Say so when the loop wakes much later than it meant to (SIGSTOP, swapping)."""
        if self._wake_by_mono is None:
            return
        late = stall_length(self._wake_by_mono, time.monotonic())
        self._wake_by_mono = None
        if late is not None:
            text = f"the scheduler loop stalled for {late:.1f} s (woke that late)"
            self.recorder.event("daemon_stalled", text, stalled_sec=round(late, 3))
            self.runlog.warn(text)

    def _done(self) -> bool:
        if self.runs.active or (self.queue and not self.stopping):
            return False
        if self.stopping or not self.settings.use_scheduler:
            return True
        if not self.firing:  # ticks used up, runs drained
            return True
        if self.settings.exit_when_idle and self.scheduler and not self.scheduler.has_future():
            self._stop_reason = "idle"
            return True
        return False

    def _sleep_for(self) -> float:
        now_mono, now = time.monotonic(), self.clock()
        waits: list[float] = []
        if self.firing:
            waits += self.poller.wake_at(self.settings, now_mono)
        start = runqueue.next_start(self.queue, self._backend_free)
        room = len(self.runs) < self.settings.max_concurrent and not self.stopping
        if start is not None and room:
            waits.append(start - now)
        instants = [self.releases.due_mono, self.shutdown_deadline if self.stopping else None]
        instants.append(
            deadlines.next_deadline(self.runs.active.values(), self.settings.kill_grace_sec)
        )
        instants += [endpoint.next_deadline() for endpoint in self.endpoints]
        if self.hooks.heartbeat_interval():
            instants.append(self._next_heartbeat)
        waits += [instant - now_mono for instant in instants if instant is not None]
        if self.runs.active:
            waits.append(RUN_CHECK_SEC)
        return max(0.0, min(waits)) if waits else 1.0

    def _wait(self, timeout: float) -> None:
        for key, mask in self.selector.select(timeout):
            if key.data is None:
                self.signals.drain_wakeups()
            elif callable(key.data):  # an endpoint's socket
                key.data(mask)
            else:
                run, which = key.data
                self.runs.readable(run, which)

    # -- signals: each queued signal goes to its handle_<name> method ------------
    def _handle_signals(self) -> None:
        for signum in self.signals.pop_all():
            name = signal.Signals(signum).name
            handler = getattr(self, f"handle_{name[3:].lower()}", None)
            if handler is not None:
                handler()

    def handle_term(self) -> None:
        self.request_stop("SIGTERM")

    def handle_int(self) -> None:
        self.request_stop("SIGINT")

    def handle_hup(self) -> None:
        if self._reload is None or self.scheduler is None or self.stopping:
            return
        self.hooks.reloading(self)
        loaded = self._reload()
        if loaded is not None:
            self._apply_config(*loaded)
        self.hooks.reloaded(self)

    def handle_chld(self) -> None:
        """Nothing to do here: the reaper runs at every pass."""

    def _apply_config(self, config: Config, jobs: tuple[Job, ...]) -> None:
        assert self.scheduler is not None
        changes = classify(self.config, config)
        self.config = self.spending.config = config
        self.settings = dataclasses.replace(self.settings, **live_schedule(config))
        self.poller.sooner(self.settings.poll_ms)
        self.requests = dataclasses.replace(
            self.requests, config=config, job_timeout_sec=self.settings.job_timeout_sec
        )
        job_changes = replace_jobs(self.scheduler, jobs, self.clock())
        announce(self.recorder, self.runlog, job_changes, changes)

    # -- runs -----------------------------------------------------------------
    def _finish_ended(self) -> None:
        self.runs.reap()
        ended = self.runs.exited()
        for run in ended:
            outcome = self.runs.record(run, self.runs.collect(run))
            self._retry(run.request, outcome)
        # Escaped descendants are reparented to us when their run's processes end; the
        # sweep scans the process table, so it runs only then, not on every wake-up.
        if ended:
            self.runs.sweep.kill_orphans()

    def _retry(self, request: RunRequest, outcome: Outcome) -> None:
        if self.scheduler is None or self.stopping:
            return
        again = next_attempt(
            request,
            outcome,
            scheduler=self.scheduler,
            recorder=self.recorder,
            releases=self.releases,
            now=self.clock(),
        )
        if again is not None:
            self.queue.append(again)

    def _enforce_deadlines(self) -> None:
        now_mono = time.monotonic()
        cause = None
        deadline = self.shutdown_deadline
        if self.stopping and deadline is not None and now_mono >= deadline:  # grace over
            cause = deadlines.stop_cause(self._stop_reason, daemon=self.settings.daemon)
        deadlines.enforce(
            self.runs.active.values(),
            now_mono,
            stop_cause=cause,
            kill_grace_sec=self.settings.kill_grace_sec,
            on_timeout=self._timed_out,
        )

    def _timed_out(self, run: ActiveRun) -> None:
        self.recorder.run_event(
            run.request,
            "job_timeout",
            f"run {run.request.run_id} exceeded {run.request.timeout_sec:g} s; SIGTERM sent",
            timeout_sec=run.request.timeout_sec,
        )

    def _poll(self) -> None:
        polled = self.poller.poll(
            self.settings, self.queue, len(self.runs), self.requests.for_claim
        )
        if polled and self.settings.ticks and self.poller.ticks_done >= self.settings.ticks:
            self.firing = False
            self._stop_reason = "ticks"

    def _backend_free(self, request: RunRequest) -> bool:
        return self.spending.backend_free(request, self.runs.backends())

    def _launch_queued(self) -> None:
        now = self.clock()
        while self.queue and not self.stopping and len(self.runs) < self.settings.max_concurrent:
            due = runqueue.due(self.queue, now)
            self._note_waiting(due)
            ready = runqueue.first_ready(due, self._backend_free)
            if ready is None:
                break  # claimed ahead of its start, or its backend is full; the loop wakes for it
            self.queue.remove(ready)
            self._noted_waiting.discard(ready.run_id)
            self.runs.launch(ready)
        waiting = self.waiting_by_backend() if self.queue else {}
        if waiting != self._last_waiting:
            self._last_waiting = waiting
            self.hooks.backend_waits(self, waiting)

    def _note_waiting(self, due: list[RunRequest]) -> None:
        """Audit once per run that it waits for its backend's max_concurrent."""
        for request in due:
            if request.run_id in self._noted_waiting or self._backend_free(request):
                continue
            self._noted_waiting.add(request.run_id)
            self.recorder.run_event(
                request,
                "job_queued",
                f"{request.job_id or request.session_id} waits for backend {request.backend} "
                f"(max_concurrent={self.spending.cap_of(request.backend)})",
                backend=request.backend,
                instant=request.instant,
            )

    def _heartbeat(self) -> None:
        interval = self.hooks.heartbeat_interval()
        if not interval:
            return
        now_mono = time.monotonic()
        if now_mono >= self._next_heartbeat:
            self._next_heartbeat = now_mono + interval
            self.hooks.heartbeat(self)
