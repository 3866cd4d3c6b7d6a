"""The supervisor loop shared by `schedule run`, `daemon run`, `schedule trigger` and `-e`.

One thread, one selector over the workers' pipes and a signal wakeup fd.
Each pass: handle signals, reap, finish runs, enforce deadlines, fire what
is due, launch what fits, then sleep until the earliest of the next due
instant, the next poll, a run's deadline, a worker event or a signal.
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
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import psutil

from scoot.instance.config import BackendConfig, Config, all_backends
from scoot.instance.home import Home
from scoot.records.files import tail_objects
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.schedule.jobs import Job
from scoot.schedule.retry import plan_retry
from scoot.schedule.scheduler import Scheduler
from scoot.shared.frames import AuditFrame, UsageFrame
from scoot.shared.procgroup import kill_group
from scoot.shared.run_spec import RunSpec
from scoot.shared.spend.backends import free_slot, priced
from scoot.shared.spend.budget import (
    allowance_for,
    cost_of,
    limits_of,
    spent_reason,
    window_from_runs,
)
from scoot.supervise.events import (
    PauseCounter,
    RunEnded,
    RunEvents,
    RunLaunched,
    RunObserver,
    RunStarting,
    log_to,
    record_to,
    tell_observers,
)
from scoot.supervise.launch import WorkerBody, WorkerProcess, launch_worker
from scoot.supervise.procs import Killed, child_pids, describe_killed, subtrees, sweep_runs
from scoot.supervise.releases import LedgerReleases
from scoot.supervise.reload import ConfigChanges, classify, live_schedule
from scoot.supervise.runner import ActiveRun, Outcome, RunRequest
from scoot.supervise.signals import SignalQueue
from scoot.supervise.spec import build_spec, limits_for, new_run_id

# How much of runs.jsonl's end is read at start for the last 24 hours' spend.
SPEND_TAIL_BYTES = 8 * 1024 * 1024

PR_SET_CHILD_SUBREAPER = 36


# Waking later than planned by more than this is a stall worth recording.
STALL_AFTER_SEC = 3.0


def stall_length(wake_by_mono: float, now_mono: float) -> float | None:
    """How late the loop woke, when that is a stall; None otherwise."""
    late = now_mono - wake_by_mono
    return late if late > STALL_AFTER_SEC else None


class Hooks:
    """Lifecycle callbacks; the daemon records state and notifies systemd through these."""

    def ready(self, supervisor: Supervisor) -> None: ...

    def heartbeat(self, supervisor: Supervisor) -> None: ...

    def reloading(self, supervisor: Supervisor) -> None: ...

    def reloaded(self, supervisor: Supervisor) -> None: ...

    def stopping(self, supervisor: Supervisor, remaining_sec: float) -> None: ...

    def backend_waits(self, supervisor: Supervisor, waiting: dict[str, int]) -> None:
        """The runs waiting for a backend's max_concurrent changed (backend: count)."""

    def job_paused(self, supervisor: Supervisor, job_id: str, reason: str) -> None:
        """A job was paused automatically (pause_after_failures); audited before this call."""

    def stopping_now(self, supervisor: Supervisor) -> None:
        """A second stop signal: the grace is cut short."""

    def heartbeat_interval(self) -> float | None:
        return None


class Endpoint(Protocol):
    """Something the loop serves from its own selector (the metrics listener).

    It registers its sockets with callables as data; each is called with the
    event mask and must never block. `next_deadline` (monotonic) bounds the
    loop's sleep so `expire` can close what overstayed.
    """

    def attach(self, selector: selectors.BaseSelector) -> None: ...

    def next_deadline(self) -> float | None: ...

    def expire(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class Settings:
    ticks: int = 0  # 0: forever
    poll_ms: int = 1000
    max_concurrent: int = 4
    job_timeout_sec: float = 600
    shutdown_grace_sec: float = 10
    kill_grace_sec: float = 5
    use_scheduler: bool = True  # False: run only submitted requests, then exit
    exit_when_idle: bool = True  # schedule run: stop when nothing can ever fire again
    reap_orphans: bool = False  # as child subreaper, kill descendants that escaped a run
    daemon: bool = False  # a stop is a daemon shutdown, and its records say so
    # Occurrences are claimed in the ledger this long before their instant, so the
    # claim's fsyncs are done when the instant comes and the fork happens right on it.
    claim_lead_sec: float = 0.05
    # Finished runs leave the ledger's in-flight table in batches, at most this late.
    release_delay_sec: float = 1.0


# The newest outcomes a Summary keeps: a daemon runs for a year, and what reports
# a run (`-e`, `schedule trigger`, `--ticks`) needs only the last ones and the counts.
KEPT_OUTCOMES = 100


@dataclass
class Summary:
    outcomes: deque[tuple[RunRequest, Outcome]] = field(
        default_factory=lambda: deque(maxlen=KEPT_OUTCOMES)
    )
    stop_reason: str = "loop_end"
    never_started: int = 0
    finished: int = 0  # runs that had a worker and ended
    not_ok: int = 0  # of those, the ones whose status is not ok

    def add(self, request: RunRequest, outcome: Outcome) -> None:
        self.outcomes.append((request, outcome))
        self.finished += 1
        if outcome.status != "ok":
            self.not_ok += 1

    @property
    def all_ok(self) -> bool:
        return self.never_started == 0 and self.not_ok == 0


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
        reload: Callable[[], tuple[Config, tuple] | None] | None = None,
        cwd: str | None = None,
        retries: int | None = None,
        clock: Callable[[], float] = time.time,
        worker_body: WorkerBody | None = None,
        signals: SignalQueue | None = None,
    ) -> None:
        self.home = home
        self._worker_body = worker_body
        self.config = config
        self.token = token
        self.recorder = recorder
        self.runlog = runlog
        self.settings = settings
        self.scheduler = scheduler
        if scheduler is not None:
            scheduler.is_running = self.is_job_running
            scheduler.budget_spent = self._budget_spent
        # The last 24 hours' spend: from runs.jsonl now, then every usage report as it comes.
        self.spend = window_from_runs(tail_objects(home.runs, SPEND_TAIL_BYTES), clock())
        self._backend_tokens: dict[str, str | None] = {}
        self._noted_waiting: set[str] = set()  # run ids whose wait for a backend was audited
        self._last_waiting: dict[str, int] = {}  # as last told to the hooks
        self.hooks = hooks or Hooks()
        self._reload = reload
        self.cwd = cwd or os.getcwd()
        self.retries = retries
        self.clock = clock
        self.selector = selectors.DefaultSelector()
        self.signals = signals or SignalQueue()
        self._owns_signals = signals is None  # a daemon keeps its queue until it has stopped
        self.active: dict[int, ActiveRun] = {}
        self.queue: deque[RunRequest] = deque()
        # Queued runs already forked ahead of their instant, waiting for its go (by run id).
        self.held: dict[str, WorkerProcess] = {}
        self.endpoints: list[Endpoint] = []  # served from the selector (metrics)
        self.observers: list[
            RunObserver
        ] = []  # told of run events (metrics, daemon.json, notifications)
        self._observer_failing = False
        self.events = RunEvents()  # records, run log, observers, pause counter: in that order
        self.events.subscribe(record_to(recorder))
        self.events.subscribe(tell_observers(self._emit, self.clock))
        self.events.subscribe(log_to(runlog))
        self.events.subscribe(
            PauseCounter(
                scheduler,
                recorder,
                runlog,
                clock,
                on_paused=self._paused,
            )
        )
        self.summary = Summary()
        self.ticks_done = 0
        self.firing = settings.use_scheduler  # False once ticks are used up or a stop began
        self.stopping = False
        self.shutdown_deadline: float | None = None
        self._next_poll_mono = time.monotonic()
        self._next_heartbeat = 0.0
        self._wake_by_mono: float | None = None  # when the current wait should end
        self._stop_reason: str | None = None
        self._own_children: set[int] = set()  # children that predate the loop are not orphans
        self.releases = LedgerReleases(
            scheduler=scheduler,
            recorder=recorder,
            runlog=runlog,
            runs_path=home.runs,
            outage_dir=scheduler.ledger.path.parent if scheduler else home.state,
            delay_sec=settings.release_delay_sec,
        )

    # -- public ---------------------------------------------------------------
    @property
    def scheduling(self) -> bool:
        """Whether the loop still fires jobs (read by the metrics)."""
        return self.firing

    @property
    def running_count(self) -> int:
        return len(self.active)

    def is_job_running(self, job_id: str) -> bool:
        return any(r.request.job_id == job_id for r in self.active.values()) or any(
            q.job_id == job_id for q in self.queue
        )

    def add_endpoint(self, endpoint: Endpoint) -> None:
        self.endpoints.append(endpoint)

    def observe(self, observer: RunObserver) -> None:
        self.observers.append(observer)

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

    def waiting_by_backend(self) -> dict[str, int]:
        """Runs due now that wait for a free slot of their backend (max_concurrent)."""
        now = self.clock()
        waiting: dict[str, int] = {}
        for request in self.queue:
            if self._start_at(request) <= now and not self._backend_free(request):
                waiting[request.backend] = waiting.get(request.backend, 0) + 1
        return waiting

    def adopt_child(self, pid: int) -> None:
        """A helper process of this one (the notification courier): never swept as an orphan."""
        self._own_children.add(pid)

    def submit(self, request: RunRequest) -> None:
        request.queued_at = request.queued_at or self.clock()
        job = self.scheduler.jobs.get(request.job_id) if self.scheduler and request.job_id else None
        if job is not None:
            request.backend = job.backend  # a trigger waits for its job's backend too
        self.queue.append(request)

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
        self._drop_queue("stopped before it could start (shutdown)")
        self.hooks.stopping(self, self.settings.shutdown_grace_sec)

    def run(self) -> Summary:
        _preload_worker()
        # Objects that exist now are never collected in a forked worker: without this
        # a worker's first collection walks them all, and copying the pages it writes
        # to made up much of a run's start-up (bench/minute_boundary.py).
        gc.freeze()
        self.signals.install()
        self.selector.register(self.signals.read_fd, selectors.EVENT_READ, None)
        for endpoint in self.endpoints:
            endpoint.attach(self.selector)
        if self.settings.reap_orphans:
            try:
                self._own_children = {p.pid for p in psutil.Process().children()}
            except psutil.Error:
                self._own_children = set()
            _become_subreaper()
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

    # -- the loop -------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            self._note_stall()
            self._handle_signals()
            self._reap()
            self._enforce_deadlines()
            if self.firing:
                self._poll_scheduler()
            self._launch_queued()
            self._hold_ahead()
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
        if self.active or (self.queue and not self.stopping):
            return False
        if self.stopping:
            return True
        if not self.settings.use_scheduler:
            return True
        if not self.firing:  # ticks used up, runs drained
            return True
        if self.settings.exit_when_idle and self.scheduler and not self.scheduler.has_future():
            self._stop_reason = "idle"
            return True
        return False

    def _sleep_for(self) -> float:
        now_mono = time.monotonic()
        candidates: list[float] = []
        if self.firing:
            candidates.append(self._next_poll_mono - now_mono)
            if self.scheduler:
                due = self.scheduler.next_due()
                if due is not None:
                    candidates.append(due - self.settings.claim_lead_sec - self.clock())
        startable = [r for r in self.queue if self._backend_free(r)]
        if startable and len(self.active) < self.settings.max_concurrent and not self.stopping:
            candidates.append(min(self._start_at(r) for r in startable) - self.clock())
        if self.releases.due_mono is not None:
            candidates.append(self.releases.due_mono - now_mono)
        for run in self.active.values():
            if run.deadline_mono is not None and not run.timed_out:
                candidates.append(run.deadline_mono - now_mono)
            if run.term_sent_mono is not None and not run.kill_sent:
                candidates.append(run.term_sent_mono + self.settings.kill_grace_sec - now_mono)
            if run.exited:
                candidates.append(0.0)
        if self.stopping and self.shutdown_deadline is not None:
            candidates.append(self.shutdown_deadline - now_mono)
        interval = self.hooks.heartbeat_interval()
        if interval:
            candidates.append(self._next_heartbeat - now_mono)
        if self.active:
            candidates.append(0.5)  # re-check exits even if a SIGCHLD was coalesced
        for endpoint in self.endpoints:
            deadline = endpoint.next_deadline()
            if deadline is not None:
                candidates.append(deadline - now_mono)
        return max(0.0, min(candidates)) if candidates else 1.0

    def _wait(self, timeout: float) -> None:
        for key, mask in self.selector.select(timeout):
            if key.data is None:
                self.signals.drain_wakeups()
                continue
            if callable(key.data):  # an endpoint's socket
                key.data(mask)
                continue
            run, which = key.data
            if which == "frames":
                self._take_frames(run)
            else:
                run.read_output()
                if not run.output_open:
                    self._unregister(run.worker.output_fd)

    # -- signals --------------------------------------------------------------
    def _handle_signals(self) -> None:
        """Each queued signal goes to its handle_<name> method (handle_term for SIGTERM)."""
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
        self._reload_config()

    def handle_chld(self) -> None:
        """Nothing to do here: the reaper runs at every pass."""

    def _reload_config(self) -> None:
        if self._reload is None or self.scheduler is None or self.stopping:
            return
        self.hooks.reloading(self)
        loaded = self._reload()
        if loaded is not None:
            config, jobs = loaded
            changes = classify(self.config, config)
            self.config = config
            self._apply_schedule_settings(config)
            self._apply_jobs(jobs, changes)
        self.hooks.reloaded(self)

    def _apply_schedule_settings(self, config: Config) -> None:
        self.settings = dataclasses.replace(self.settings, **live_schedule(config))
        # A shorter poll period takes effect now, not after one more old period.
        soonest = time.monotonic() + self.settings.poll_ms / 1000
        self._next_poll_mono = min(self._next_poll_mono, soonest)

    def _apply_jobs(self, jobs: tuple, changes: ConfigChanges) -> None:
        assert self.scheduler is not None
        now = self.clock()
        new = {job.id: job for job in jobs}
        old = dict(self.scheduler.jobs)
        for job_id in old.keys() - new.keys():
            self.scheduler.remove(job_id)
        for job_id, job in new.items():
            if old.get(job_id) != job:
                self.scheduler.remove(job_id)
                self.scheduler.add(job, now)
        added = len(new.keys() - old.keys())
        removed = len(old.keys() - new.keys())
        changed = sum(1 for k in new.keys() & old.keys() if new[k] != old[k])
        self.recorder.event(
            "config_reload",
            f"configuration reloaded: {len(new)} jobs ({added} added, {removed} removed, {changed} changed)",
            applied=list(changes.applied),
            restart_needed=list(changes.restart_needed),
        )
        self.runlog.err(
            f"[scoot] reloaded: {len(new)} jobs ({added} added, {removed} removed, {changed} changed)"
        )
        if changes.restart_needed:
            self.runlog.warn(
                "these changes take effect only after a restart: "
                + ", ".join(changes.restart_needed)
            )

    # -- scheduling -----------------------------------------------------------
    def _poll_scheduler(self) -> None:
        now_mono = time.monotonic()
        polled = now_mono >= self._next_poll_mono
        if polled:
            self.ticks_done += 1
            period = self.settings.poll_ms / 1000
            self._next_poll_mono += period
            if self._next_poll_mono <= now_mono:  # slept through polls: no burst of ticks
                self._next_poll_mono = now_mono + period
        if self.scheduler is not None:
            try:
                verdicts = self.scheduler.decide(self.clock() + self.settings.claim_lead_sec)
                if verdicts.wrote_ledger:
                    self.releases.ok()
            except OSError as exc:
                self.releases.failed(
                    f"cannot write the ledger ({exc.strerror}); nothing is fired until it is writable"
                )
                verdicts = None
            if verdicts is not None:
                for kind, msg, details in verdicts.events:
                    self.recorder.event(kind, msg, **details)
                    self._emit(kind, **details)
                    if kind == "job_skipped":
                        self.runlog.err(f"[scoot] {msg}")
                for request in verdicts.claimed:
                    if len(self.active) + len(self.queue) >= self.settings.max_concurrent:
                        self.recorder.run_event(
                            request,
                            "job_queued",
                            f"job {request.job_id} waits for a free slot (max_concurrent={self.settings.max_concurrent})",
                            instant=request.instant,
                        )
                    self.queue.append(request)
                    self._emit("job_queued", job_id=request.job_id, run_id=request.run_id)
        if polled:
            self._emit("tick")
        if polled and self.settings.ticks and self.ticks_done >= self.settings.ticks:
            self.firing = False
            self._stop_reason = "ticks"

    @staticmethod
    def _start_at(request: RunRequest) -> float:
        """A claimed occurrence starts at its instant plus its jitter; anything else at once."""
        if request.not_before is not None:
            return request.not_before  # a retry, after its backoff
        if request.origin == "schedule" and request.instant is not None:
            return request.instant + request.jitter_ms / 1000
        return 0.0

    def _launch_queued(self) -> None:
        self._launch_ready()
        waiting = self.waiting_by_backend() if self.queue else {}
        if waiting != self._last_waiting:
            self._last_waiting = waiting
            self.hooks.backend_waits(self, waiting)

    def _launch_ready(self) -> None:
        now = self.clock()
        while self.queue and not self.stopping and len(self.active) < self.settings.max_concurrent:
            # In queue order, the first whose start has come: a jittered run waiting
            # for its delay must not hold back the runs behind it.
            due = [r for r in self.queue if self._start_at(r) <= now]
            self._note_waiting(due)
            ready = next((r for r in due if self._backend_free(r)), None)
            if ready is None:
                return  # claimed ahead of its start, or its backend is full; the loop wakes for it
            self.queue.remove(ready)
            self._noted_waiting.discard(ready.run_id)
            self._launch(ready)

    # -- spend (scoot.shared.spend) ----------------------------------------------------
    def _backend_free(self, request: RunRequest) -> bool:
        caps = {name: b.max_concurrent for name, b in all_backends(self.config).items()}
        running = [run.request.backend for run in self.active.values()]
        return free_slot(request.backend, caps, running)

    def _note_waiting(self, due: list[RunRequest]) -> None:
        """Audit once per run that it waits for its backend's max_concurrent."""
        for request in due:
            if request.run_id in self._noted_waiting or self._backend_free(request):
                continue
            self._noted_waiting.add(request.run_id)
            cap = all_backends(self.config)[request.backend].max_concurrent
            self.recorder.run_event(
                request,
                "job_queued",
                f"{request.job_id or request.session_id} waits for backend {request.backend} "
                f"(max_concurrent={cap})",
                backend=request.backend,
                instant=request.instant,
            )

    def _budget_spent(self, job: Job, now: float) -> str | None:
        return spent_reason(limits_of(job, self.config.budget), self.spend, job.id, now)

    def _token_for(self, name: str) -> str | None:
        """The token of a named backend: the default's when it reads the same source."""
        backend = all_backends(self.config).get(name)
        if backend is None or _same_token_source(backend, self.config.backend):
            return self.token
        if name not in self._backend_tokens:
            from scoot.instance.secrets import resolve_token

            token = resolve_token(self.home, backend)
            for text in token.warnings:
                self.runlog.warn(f"backend {name}: {text}")
            self._backend_tokens[name] = token.value
            self.recorder.audit.redactor.add(token.value)
        return self._backend_tokens[name]

    def _take_usage(self, run: ActiveRun, frame: UsageFrame) -> None:
        """Count an answer's tokens; end the run when it asked past its allowance."""
        backend = all_backends(self.config).get(frame.backend) or self.config.backend
        cost = None
        if priced(backend):
            cost = cost_of(
                frame.input,
                frame.output,
                backend.price_per_mtok_input,
                backend.price_per_mtok_output,
            )
        now = self.clock()
        job_id = run.request.job_id
        job = self.scheduler.jobs.get(job_id) if self.scheduler and job_id else None
        # A day budget other runs spent while this one ran binds it from its next answer on.
        day_spent = spent_reason(limits_of(job, self.config.budget), self.spend, job_id or "", now)
        past = run.count_usage(frame, cost)
        self.spend.add(now, job_id, frame.input + frame.output, cost or 0.0)
        if run.over_budget is not None or run.term_sent_mono is not None:
            return
        if past:
            run.over_budget = "the worker asked the model past its budget; ended by the scheduler"
        elif day_spent is not None:
            run.over_budget = f"{day_spent} while it ran; ended by the scheduler"
        else:
            return
        run.terminate(time.monotonic())

    def _retry(self, request: RunRequest, outcome: Outcome) -> None:
        """Queue the next attempt of a failed scheduled run, when the job asks for one."""
        if request.origin != "schedule" or self.scheduler is None or self.stopping:
            return
        job = self.scheduler.jobs.get(request.job_id or "")
        if job is None or not job.retries:
            return
        now = self.clock()
        retry = plan_retry(
            status=outcome.status,
            attempt=request.attempt,
            retries=job.retries,
            backoff_base_sec=job.retry_backoff_sec,
            ended_at=now,
            next_instant=self.scheduler.next_due_of(job.id),
        )
        if retry is None:
            return
        again = RunRequest(
            run_id=new_run_id(now),
            session_id=request.session_id,
            goal=request.goal,
            mode=request.mode,
            origin=request.origin,
            job_id=request.job_id,
            instant=request.instant,
            timeout_sec=request.timeout_sec,
            queued_at=now,
            attempt=retry.attempt,
            not_before=retry.start_at,
            backend=request.backend,
        )
        try:
            self.scheduler.hold(again, now)
        except OSError as exc:
            self.releases.failed(
                f"cannot write the ledger ({exc.strerror}); job {job.id} not retried"
            )
            return
        self.recorder.run_event(
            again,
            "job_retry",
            f"job {job.id} ended {outcome.status}; attempt {retry.attempt} of {job.retries + 1} "
            f"in {retry.delay_sec:g} s",
            attempt=retry.attempt,
            delay_sec=retry.delay_sec,
            instant=request.instant,
            previous_run_id=request.run_id,
        )
        self.queue.append(again)

    def _launch(self, request: RunRequest) -> None:
        worker = self.held.pop(request.run_id, None)
        spec = request.spec if worker is not None else self._prepare(request)
        if spec is None:
            return
        if worker is not None:
            worker.go()  # first, on the instant; its frames are read once job_start is written
        self.events.publish(RunStarting(request))
        try:
            if worker is None:
                worker = launch_worker(spec, self._worker_body)
        except OSError as exc:
            self._never_started(request, "error", f"cannot start worker: {exc.strerror}")
            return
        run = ActiveRun(request, worker, self.clock())
        self.active[worker.pid] = run
        self.events.publish(RunLaunched(request, run.started_at))
        self.selector.register(worker.frame_fd, selectors.EVENT_READ, (run, "frames"))
        self.selector.register(worker.output_fd, selectors.EVENT_READ, (run, "output"))

    def _prepare(self, request: RunRequest) -> RunSpec | None:
        """The run's directories and spec; None when it cannot start (recorded)."""
        job = self.scheduler.jobs.get(request.job_id) if self.scheduler and request.job_id else None
        cwd = (job.cwd if job and job.cwd else None) or self.cwd
        if job is not None:
            request.backend = job.backend
        if request.timeout_sec is None and request.origin != "cli":
            request.timeout_sec = float(self.settings.job_timeout_sec)
        scratch = self.home.scratch / request.run_id
        try:
            scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            self._never_started(request, "error", f"cannot create scratch dir: {exc.strerror}")
            return None
        if request.origin != "cli" and not (job and job.cwd):
            # A job without cwd never inherits the daemon's (/ or $HOME): it gets its own.
            workspace = self.home.workspace(request.job_id or "adhoc")
            try:
                workspace.parent.mkdir(mode=0o700, exist_ok=True)
                workspace.mkdir(mode=0o700, exist_ok=True)
            except OSError as exc:
                self._never_started(request, "error", f"cannot create workspace: {exc.strerror}")
                return None
            cwd = str(workspace)
        request.spec = build_spec(
            self.config,
            self.home,
            request,
            token=self.token,
            cwd=cwd,
            limits=limits_for(self.config, job),
            retries=self.retries,
            backend_name=request.backend,
            allowance=allowance_for(
                limits_of(job, self.config.budget), self.spend, request.job_id, self.clock()
            ).to_dict(),
            token_for=self._token_for,
            expect_schema=job.result_schema if job is not None else None,
        )
        return request.spec

    def _hold_ahead(self) -> None:
        """Fork the scheduled runs whose instant is due within the claim lead, held.

        Each does its set-up (spec, sandbox, hello) now and asks the model only
        at its go, which `_launch` gives at the instant: the forks and the
        workers' start-up are no longer paid after the instant, one after
        another. Runs of a backend with a max_concurrent cap start the usual way.
        """
        now = self.clock()
        backends = all_backends(self.config)
        for request in list(self.queue):
            if self.stopping or len(self.active) + len(self.held) >= self.settings.max_concurrent:
                return
            job = (
                self.scheduler.jobs.get(request.job_id)
                if self.scheduler and request.job_id
                else None
            )
            backend = backends.get(job.backend if job is not None else request.backend)
            ahead = self._start_at(request) - now
            if (
                request.run_id in self.held
                or request.origin != "schedule"
                or not 0 < ahead <= self.settings.claim_lead_sec
                or backend is None
                or backend.max_concurrent
            ):
                continue
            spec = self._prepare(request)
            if spec is None:
                self.queue.remove(request)
                continue
            try:
                self.held[request.run_id] = launch_worker(spec, self._worker_body, held=True)
            except OSError:
                pass  # forked the usual way at its instant, where a failure is recorded

    def _never_started(self, request: RunRequest, status: str, reason: str) -> None:
        outcome = Outcome(status, None, reason, None, None, 0, None)
        self.events.publish(RunEnded(request, outcome, None))
        self.summary.never_started += 1
        self.releases.add(request)

    def _drop_queue(self, reason: str) -> None:
        while self.queue:
            request = self.queue.popleft()
            held = self.held.pop(request.run_id, None)
            if held is not None:
                held.call_off()
                _remove_scratch(self.home.scratch / request.run_id)
            self._never_started(request, "interrupted", reason)

    # -- workers --------------------------------------------------------------
    def _take_frames(self, run: ActiveRun) -> None:
        for frame in run.read_frames():
            if isinstance(frame, UsageFrame):
                self._take_usage(run, frame)
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

    def _reap(self) -> None:
        finished = 0
        for pid, run in list(self.active.items()):
            if run.exited:
                self._finish(run)
                finished += 1
                continue
            try:
                reaped, status, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                reaped, status, usage = pid, 0, None
            if reaped == 0:
                continue
            run.wait_status = status
            run.rusage_maxrss_kb = int(usage.ru_maxrss) if usage else None
            self._finish(run)
            finished += 1
        # Escaped descendants are reparented to us when their run's processes end; the
        # sweep scans the process table, so it runs only then, not on every wake-up.
        if finished and self.settings.reap_orphans:
            self._reap_orphans()

    def _finish(self, run: ActiveRun) -> None:
        # Everything the worker wrote before exiting is still in the pipes.
        self._take_frames(run)
        run.read_output()
        self._unregister(run.worker.frame_fd)
        self._unregister(run.worker.output_fd)
        run.close_pipes()
        del self.active[run.pid]
        self._end_processes_of(run)
        outcome = self._check_result(run.request, run.outcome(time.monotonic()))
        record = self.recorder.record(run.request, run.started_at, outcome)
        self.events.publish(RunEnded(run.request, outcome, run, record))
        self.summary.add(run.request, outcome)
        self.releases.add(run.request)
        self._retry(run.request, outcome)
        _remove_scratch(self.home.scratch / run.request.run_id)

    def _check_result(self, request: RunRequest, outcome: Outcome) -> Outcome:
        """expect_schema: an ok answer that does not validate ends the run invalid_result."""
        job = self.scheduler.jobs.get(request.job_id) if self.scheduler and request.job_id else None
        if job is None or job.result_schema is None or outcome.status != "ok":
            return outcome
        from scoot.notify.schema import INVALID_RESULT, result_problem

        problem = result_problem(job.result_schema, outcome.answer)
        return (
            outcome if problem is None else replace(outcome, status=INVALID_RESULT, error=problem)
        )

    def _end_processes_of(self, run: ActiveRun) -> None:
        """No process of a run outlives it: its group, then whatever carries its mark."""
        killed = _kill_group(run.pid)
        killed += sweep_runs({run.request.run_id}, self._sweep_candidates, reap=self._reap_strays)
        if killed:
            self.recorder.run_event(
                run.request,
                "stragglers_killed",
                f"killed {describe_killed(killed)} left behind by run {run.request.run_id}",
                count=len(killed),
                pids=[k.pid for k in killed],
                names=[k.name for k in killed],
            )

    def _sweep_candidates(self) -> list[psutil.Process]:
        """Where an ended run's processes can be.

        As subreaper: below us, and not below a live worker. When a worker
        exits, the kernel re-parents what it leaves to us before we reap it,
        so the trees of our other children are all there is to look at
        (usually none: nothing is read). Otherwise: anywhere.
        """
        if not self.settings.reap_orphans:
            return list(psutil.process_iter())
        me = os.getpid()
        children = child_pids(me)
        if children is not None:
            strays = [p for p in children if p not in self.active and p not in self._own_children]
            found = subtrees(strays)
            if found is not None:
                return found
        try:
            return psutil.Process().children(recursive=True)
        except psutil.Error:
            return []

    def _reap_strays(self) -> None:
        """Collect killed processes that were re-parented to us (never a live worker)."""
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return
        held = {worker.pid for worker in self.held.values()}
        for child in children:
            if child.pid in self.active or child.pid in self._own_children or child.pid in held:
                continue
            try:
                os.waitpid(child.pid, os.WNOHANG)
            except OSError:
                continue

    def _reap_orphans(self) -> None:
        """As subreaper we inherit descendants that escaped a run's group: end them."""
        workers = set(self.active) | {worker.pid for worker in self.held.values()}
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return
        for child in children:
            if child.pid in workers or child.pid in self._own_children:
                continue
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(child.pid, os.WNOHANG)
                    continue
                os.kill(child.pid, signal.SIGKILL)
                os.waitpid(child.pid, 0)
            except (psutil.Error, OSError):
                continue
            self.recorder.event(
                "stragglers_killed",
                f"killed process {child.pid} that escaped its run's process group",
                pid=child.pid,
                count=1,
            )

    def _enforce_deadlines(self) -> None:
        now_mono = time.monotonic()
        shutdown_due = (
            self.stopping
            and self.shutdown_deadline is not None
            and now_mono >= self.shutdown_deadline
        )
        for run in self.active.values():
            if run.exited:
                continue
            if (
                run.deadline_mono is not None
                and now_mono >= run.deadline_mono
                and not run.timed_out
                and run.term_sent_mono is None
            ):
                run.timed_out = True
                run.terminate(now_mono)
                self.recorder.run_event(
                    run.request,
                    "job_timeout",
                    f"run {run.request.run_id} exceeded {run.request.timeout_sec:g} s; SIGTERM sent",
                    timeout_sec=run.request.timeout_sec,
                )
            if shutdown_due and run.term_sent_mono is None:
                run.stopped_by_shutdown = True
                run.stop_cause = stop_cause(self._stop_reason, daemon=self.settings.daemon)
                run.terminate(now_mono)
            if (
                run.term_sent_mono is not None
                and not run.kill_sent
                and now_mono >= run.term_sent_mono + self.settings.kill_grace_sec
            ):
                run.kill()

    def _heartbeat(self) -> None:
        interval = self.hooks.heartbeat_interval()
        if not interval:
            return
        now_mono = time.monotonic()
        if now_mono >= self._next_heartbeat:
            self._next_heartbeat = now_mono + interval
            self.hooks.heartbeat(self)


def stop_cause(reason: str | None, *, daemon: bool) -> str:
    """Who stopped a run, as its record says it: "Ctrl-C (SIGINT)", "daemon shutdown (SIGTERM)"."""
    signame = reason or "a stop request"
    if daemon:
        return f"daemon shutdown ({signame})"
    return "Ctrl-C (SIGINT)" if signame == "SIGINT" else signame


def _same_token_source(one: BackendConfig, other: BackendConfig) -> bool:
    return (one.api_key_env, one.api_key_file, one.api_key_cmd) == (
        other.api_key_env,
        other.api_key_file,
        other.api_key_cmd,
    )


def _preload_worker() -> None:
    """Import the worker's modules once here, so every forked run starts with them loaded.

    This is what makes fork cheap: the child skips ~100 ms of imports (see
    bench/launch_cost.py).
    """
    import setproctitle  # noqa: F401

    import worker.agent  # noqa: F401
    import worker.main  # noqa: F401
    import worker.sandbox  # noqa: F401


def _kill_group(pgid: int) -> list[Killed]:
    """SIGKILL whatever is left in a finished run's process group; return what."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return []
    members = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(Killed(proc.pid, proc.info["name"] or "?", ""))
        except (OSError, psutil.Error):
            continue
    kill_group(pgid)
    return members


def _become_subreaper() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _remove_scratch(path: os.PathLike[str] | str) -> None:
    from scoot.supervise.scratch import remove_scratch_dir

    try:
        remove_scratch_dir(str(path))
    except OSError:
        pass  # left for the operator; it holds nothing the records need
