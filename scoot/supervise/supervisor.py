"""The supervisor loop shared by `schedule run`, `daemon run`, `schedule trigger` and `-e`.

One thread, one selector over the workers' pipes and a signal wakeup fd, in
the arbiter style: signal handlers only queue and wake; each pass handles the
queued signals, takes the runs that ended out of the run table, enforces
deadlines, launches what is queued into the freed slots, then records the
ended runs, polls the scheduler and launches what it claimed, then sleeps
until the earliest of the next due instant, a poll that something waits for
(every poll when counting --ticks), a run's deadline, a worker event, a
signal or a step of the wall clock (wallclock.py).

The Supervisor decides; its parts act: the loop's mechanics (loop.py), the run
table (runtable.py: launch, frames, the reaper, endings), the run queue,
deadlines, the poller, spending, ledger releases, reload, and the run events
fan-out (events.py), to which a new subscriber is added without loop code.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import time
from collections import deque
from collections.abc import Callable

from scoot.instance.config import Config
from scoot.instance.home import Home
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.schedule.jobs import Job
from scoot.schedule.scheduler import Scheduler
from scoot.supervise import deadlines
from scoot.supervise.deadlines import Stop
from scoot.supervise.events import Observers, PauseCounter, RunObserver, run_events
from scoot.supervise.hooks import Endpoint, Heartbeat, Hooks
from scoot.supervise.launch import WorkerBody
from scoot.supervise.loop import Loop, sleep_for, stall_length
from scoot.supervise.poller import Poller, TickWant
from scoot.supervise.preload import preload_worker
from scoot.supervise.releases import LedgerReleases
from scoot.supervise.reload import announce, classify, live_schedule, replace_jobs
from scoot.supervise.requests import RequestMaker
from scoot.supervise.retries import Retries
from scoot.supervise.runner import ActiveRun, Outcome, RunRequest
from scoot.supervise.runqueue import RunQueue
from scoot.supervise.runtable import RunTable
from scoot.supervise.settings import Settings, Summary
from scoot.supervise.signals import SignalQueue
from scoot.supervise.spending import Spending

__all__ = ["Endpoint", "Hooks", "Settings", "Summary", "Supervisor", "stall_length"]

# With runs in flight the loop looks at them at least this often, even if a SIGCHLD was coalesced.
RUN_CHECK_SEC = 0.5

NOT_STARTED_AT_STOP = "stopped before it could start (shutdown)"

# (config, jobs) from a reload, or None when the new config is unusable.
Reloaded = tuple[Config, tuple[Job, ...]]


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
        self.heartbeat = Heartbeat(self.hooks)
        self.clock = clock
        self._reload = reload
        self.requests = RequestMaker(home, config, cwd or os.getcwd(), settings.job_timeout_sec)
        self.loop = Loop(signals, recorder, runlog)
        self.observers = Observers(runlog.warn)
        self.summary = Summary()
        self.spending = Spending(
            home=home, config=config, token=token, recorder=recorder, runlog=runlog, clock=clock
        )
        self.releases = _releases(home, scheduler, recorder, runlog, settings)
        pauses = PauseCounter(scheduler, recorder, runlog, clock, on_paused=self._paused)
        self.events = run_events(recorder, runlog, self.observers, pauses)
        self.runs = RunTable(
            home=home,
            recorder=recorder,
            runlog=runlog,
            events=self.events,
            selector=self.loop.selector,
            spending=self.spending,
            summary=self.summary,
            releases=self.releases,
            as_subreaper=settings.reap_orphans,
            model_retries=retries,
            worker_body=worker_body,
            clock=clock,
        )
        self.pending = RunQueue(recorder, self.runs.backend_free, self.spending.cap_of)
        self.job_retries = Retries(scheduler, recorder, self.releases, clock)
        self.poller = Poller(scheduler, recorder, runlog, self.releases, self.observers.emit, clock)
        self.loop.endpoints += self.poller.watch_wall_clock(settings)
        if scheduler is not None:
            _answer_to(scheduler, self)
        self.firing = settings.use_scheduler  # False once ticks are used up or a stop began
        self.stop = Stop()
        self._stop_reason: str | None = None  # why the loop ends: a signal, "ticks", "idle"

    # -- public ---------------------------------------------------------------
    @property
    def queue(self) -> deque[RunRequest]:
        """The requests waiting to start, in arrival order."""
        return self.pending.requests

    @property
    def active(self) -> dict[int, ActiveRun]:
        """The runs in flight, by worker pid."""
        return self.runs.active

    @property
    def running_count(self) -> int:
        return len(self.runs)

    def is_job_running(self, job_id: str) -> bool:
        return self.runs.runs_job(job_id) or self.pending.has_job(job_id)

    def add_endpoint(self, endpoint: Endpoint) -> None:
        self.loop.endpoints.append(endpoint)

    def observe(self, observer: RunObserver, wants_ticks: TickWant | None = None) -> None:
        self.observers.add(observer)
        if wants_ticks is not None:  # in how many seconds it needs a poll tick (poller.py)
            self.poller.tick_wants.append(wants_ticks)

    def adopt_child(self, pid: int) -> None:
        """A helper process of this one (the notification courier): never swept as an orphan."""
        self.runs.sweep.adopt(pid)

    def submit(self, request: RunRequest) -> None:
        self.queue.append(request)

    def waiting_by_backend(self) -> dict[str, int]:
        """Runs due now that wait for a free slot of their backend (max_concurrent)."""
        return self.pending.waiting_by_backend(self.clock())

    def request_stop(self, reason: str) -> None:
        """Begin a graceful stop: launch nothing new, give runs the grace, then end them."""
        if not self.stop.begin(self.settings.shutdown_grace_sec, time.monotonic()):
            self.hooks.stopping_now(self)  # a second signal skips the grace
            return
        self.firing = False
        self._stop_reason = reason
        while self.queue:
            self.runs.never_started(self.queue.popleft(), "interrupted", NOT_STARTED_AT_STOP)
        self.hooks.stopping(self, self.settings.shutdown_grace_sec)

    def run(self) -> Summary:
        preload_worker()
        # Objects that exist now are never collected in a forked worker: without this
        # a worker's first collection walks them all, and copying the pages it writes
        # to made up much of a run's start-up (bench/minute_boundary.py).
        gc.freeze()
        self.loop.open()
        self.runs.sweep.start()
        try:
            self.hooks.ready(self)
            self._passes()
        finally:
            self.loop.close()
            self.observers.emit("stopped")
        self.summary.stop_reason = self._stop_reason or (
            "ticks" if self.settings.ticks else "loop_end"
        )
        return self.summary

    def _paused(self, job_id: str, reason: str) -> None:
        """pause_after_failures paused a job (audited already): tell observers and hooks."""
        self.observers.emit("job_paused", job_id=job_id, reason=reason)
        self.hooks.job_paused(self, job_id, reason)

    # -- the loop -------------------------------------------------------------
    def _passes(self) -> None:
        while True:
            self.loop.dispatch_signals(self)
            ended = self.runs.collect_ended()
            self._enforce_deadlines()
            if ended:  # the slots they freed go to what is queued first; their records follow
                self._launch_queued()
                self._record(ended)
            if self.firing:
                self._poll()
            self._launch_queued()
            self.runs.hold_ahead(self.queue, self.clock(), self.settings, self.stop.requested)
            self._tell_waiting()
            self.releases.release(force=False)
            self.heartbeat.beat(self, time.monotonic())
            self.loop.expire()
            if self._done():
                self.releases.release(force=True)
                self.releases.warn_unwritten()
                self.loop.end_pass()
                return
            self.loop.wait(self._sleep_for(), self.runs.readable)

    def _done(self) -> bool:
        if self.runs.active or (self.queue and not self.stop.requested):
            return False
        if self.stop.requested or not self.settings.use_scheduler:
            return True
        if not self.firing:  # ticks used up, runs drained
            return True
        if self.settings.exit_when_idle and self.scheduler and not self.scheduler.has_future():
            self._stop_reason = "idle"
            return True
        return False

    def _sleep_for(self) -> float:
        """Until the earliest of: a poll or due instant, a queued start, a release batch,
        the stop grace, a run's deadline, an endpoint's deadline, the heartbeat."""
        waits = self.poller.wake_at(self.settings, time.monotonic()) if self.firing else []
        start = self.pending.next_start(self.runs.slot_free(self.settings.max_concurrent))
        if start is not None and not self.stop.requested:
            waits.append(start - self.clock())
        instants = [self.releases.due_mono, self.stop.deadline_mono]
        instants.append(deadlines.next_deadline(self.active.values(), self.settings.kill_grace_sec))
        instants += [*self.loop.deadlines(), self.heartbeat.due_mono()]
        if self.runs.active:
            waits.append(RUN_CHECK_SEC)
        return sleep_for(waits, instants, time.monotonic())

    # -- signals (handlers that only queue and wake; these run between passes) --
    def handle_term(self) -> None:
        self.request_stop("SIGTERM")

    def handle_int(self) -> None:
        self.request_stop("SIGINT")

    def handle_hup(self) -> None:
        if self._reload is None or self.scheduler is None or self.stop.requested:
            return
        self.hooks.reloading(self)
        loaded = self._reload()
        if loaded is not None:
            self._apply_config(*loaded)
        self.hooks.reloaded(self)

    def handle_chld(self) -> None:
        """The wake-up was all it took: the reaper runs every pass."""

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
    def _record(self, ended: list[tuple[ActiveRun, Outcome]]) -> None:
        for run, outcome in ended:
            recorded = self.runs.record(run, outcome)
            again = None if self.stop.requested else self.job_retries.after(run.request, recorded)
            if again is not None:
                self.queue.append(again)

    def _enforce_deadlines(self) -> None:
        cause = None
        if self.stop.grace_over(time.monotonic()):
            cause = deadlines.stop_cause(self._stop_reason, daemon=self.settings.daemon)
        self.runs.enforce_deadlines(cause, self.settings.kill_grace_sec)

    def _poll(self) -> None:
        polled = self.poller.poll(
            self.settings, self.queue, len(self.runs), self.requests.for_claim
        )
        if polled and self.settings.ticks and self.poller.ticks_done >= self.settings.ticks:
            self.firing = False
            self._stop_reason = "ticks"

    def _launch_queued(self) -> None:
        now = self.clock()
        while (
            self.queue and not self.stop.requested and len(self.runs) < self.settings.max_concurrent
        ):
            ready = self.pending.take_ready(now, self.runs.slot_free(self.settings.max_concurrent))
            if ready is None:
                break  # claimed ahead of its start, or its backend is full; the loop wakes for it
            self.runs.launch(ready)

    def _tell_waiting(self) -> None:
        if (waiting := self.pending.waiting_changed(self.clock())) is not None:
            self.hooks.backend_waits(self, waiting)


def _answer_to(scheduler: Scheduler, supervisor: Supervisor) -> None:
    """What the scheduler asks of this loop: is a job running, is its budget spent."""
    scheduler.is_running = supervisor.is_job_running
    scheduler.budget_spent = supervisor.spending.budget_spent
    scheduler.claim_lead_sec = supervisor.settings.claim_lead_sec


def _releases(
    home: Home,
    scheduler: Scheduler | None,
    recorder: Recorder,
    runlog: RunLog,
    settings: Settings,
) -> LedgerReleases:
    return LedgerReleases(
        scheduler=scheduler,
        recorder=recorder,
        runlog=runlog,
        runs_path=home.runs,
        outage_dir=scheduler.ledger.path.parent if scheduler else home.state,
        delay_sec=settings.release_delay_sec,
    )
