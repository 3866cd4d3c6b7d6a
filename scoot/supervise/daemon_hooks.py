"""What the daemon publishes while its loop runs: daemon.json's activity and systemd's status."""

from __future__ import annotations

import time
from typing import Any

from scoot.records.outage import Outage
from scoot.shared.kernel import trim_heap
from scoot.supervise.lifecycle import StateFile
from scoot.supervise.progress import RELOAD_HINT
from scoot.supervise.sdnotify import Notifier
from scoot.supervise.supervisor import Hooks, Supervisor

STATE_REFRESH_SEC = 30.0
# Run boundaries rewrite daemon.json at most this often; a burst is published at the next poll.
STATE_MIN_INTERVAL_SEC = 0.5


def activity_of(supervisor: Supervisor) -> dict[str, Any]:
    """The runs in progress, the queue and each job's next fire, as daemon.json holds them."""
    runs = [
        {
            "job_id": run.request.job_id,
            "run_id": run.request.run_id,
            "mode": run.request.mode,
            "origin": run.request.origin,
            "started_at": round(run.started_at, 3),
        }
        for run in supervisor.active.values()
    ]
    queue = [
        {
            "job_id": request.job_id,
            "run_id": request.run_id,
            "instant": request.instant,
            "queued_at": round(request.queued_at, 3) if request.queued_at else None,
        }
        for request in supervisor.queue
    ]
    scheduler = supervisor.scheduler
    due = scheduler.next_due_by_job() if scheduler else {}
    # By id without a list of (id, instant) pairs, and an instant that needs no rounding
    # kept as it is: with ten thousand jobs, making those for each write took a MiB for
    # a moment, and the pools it left were kept resident by what came after.
    next_fires = {job: _to_ms(due[job]) for job in sorted(due)}
    job_ids = sorted(scheduler.jobs) if scheduler else []
    return {
        "runs": runs,
        "queue": queue,
        "next_fires": next_fires,
        "job_ids": job_ids,
        "waiting_for_backend": supervisor.waiting_by_backend(),
    }


def _to_ms(instant: float) -> float:
    rounded = round(instant, 3)
    return instant if rounded == instant else rounded


class DaemonHooks(Hooks):
    """Keeps daemon.json current and tells systemd (when it is watching) what happens."""

    def __init__(self, state: StateFile, notifier: Notifier) -> None:
        self.state = state
        self.notifier = notifier
        self._last_refresh = 0.0
        self._supervisor: Supervisor | None = None
        self._dirty = False
        self._published_mono = 0.0
        self._state_outage = Outage(state.home.state)  # one warning per outage

    def _write_state(
        self, supervisor: Supervisor, activity: dict[str, Any] | None = None, **extra: Any
    ) -> None:
        """Publish the running state and what the loop does now (`activity`, by default
        read from the supervisor); a full disk is warned once per outage, not per write."""
        try:
            self.state.write_running(activity=activity or activity_of(supervisor), **extra)
        except OSError as exc:
            if self._state_outage.failed():
                supervisor.runlog.warn(f"cannot update daemon state ({exc.strerror})")
            return
        finally:
            # Encoding ten thousand next fires takes a few MiB for a moment, which the C heap
            # would keep; writes come at most twice a second and a trim costs ~0.1 ms.
            trim_heap()
        if self._state_outage.succeeded():
            supervisor.runlog.warn("daemon state is writable again")

    def attach(self, supervisor: Supervisor) -> None:
        """Publish what the loop does at run boundaries (and once at start)."""
        self._supervisor = supervisor
        supervisor.observe(self.on_event, wants_ticks=self.tick_wanted_in)
        self._dirty = True  # the first poll publishes the next fires

    def tick_wanted_in(self) -> float | None:
        """A state left unpublished (a run boundary within the interval) wants the next poll."""
        return 0.0 if self._dirty else None

    def on_event(self, kind: str, _fields: dict[str, Any]) -> None:
        if kind in ("job_start", "job_end", "job_queued"):
            self._dirty = True
            if time.monotonic() - self._published_mono < STATE_MIN_INTERVAL_SEC:
                return  # the next poll publishes it
        elif not (kind == "tick" and self._dirty):
            return
        supervisor = self._supervisor
        if supervisor is None:
            return
        self._dirty = False
        self._published_mono = time.monotonic()
        self.state.jobs = len(supervisor.scheduler.jobs) if supervisor.scheduler else 0
        self._write_state(supervisor, running=supervisor.running_count)

    def _status_text(self, supervisor: Supervisor) -> str:
        jobs = len(supervisor.scheduler.jobs) if supervisor.scheduler else 0
        if not jobs:
            return f"no runnable jobs; waiting: {RELOAD_HINT}"
        return f"{jobs} jobs, {supervisor.running_count} running"

    def ready(self, supervisor: Supervisor) -> None:
        trim_heap()  # what loading the jobs freed, before the daemon settles
        self.notifier.send(READY=1, STATUS=self._status_text(supervisor))

    def heartbeat_interval(self) -> float | None:
        watchdog = self.notifier.watchdog_interval()
        return min(watchdog, STATE_REFRESH_SEC) if watchdog else STATE_REFRESH_SEC

    def heartbeat(self, supervisor: Supervisor) -> None:
        self.notifier.send(WATCHDOG=1, STATUS=self._status_text(supervisor))
        now = time.monotonic()
        if now - self._last_refresh >= STATE_REFRESH_SEC:
            self._last_refresh = now
            self.state.jobs = len(supervisor.scheduler.jobs) if supervisor.scheduler else 0
            self._write_state(supervisor, running=supervisor.running_count)

    def backend_waits(self, supervisor: Supervisor, waiting: dict[str, int]) -> None:
        # Written at once, not at the next refresh: `daemon status` shows who waits.
        activity = {**activity_of(supervisor), "waiting_for_backend": waiting}
        self._write_state(supervisor, activity, running=supervisor.running_count)

    def reloading(self, supervisor: Supervisor) -> None:
        self.notifier.send(
            RELOADING=1, MONOTONIC_USEC=int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
        )

    def reloaded(self, supervisor: Supervisor) -> None:
        jobs = len(supervisor.scheduler.jobs) if supervisor.scheduler else 0
        self.state.jobs = jobs
        self.state.poll_ms = supervisor.config.schedule.poll_ms
        self._write_state(supervisor, note="configuration reloaded")
        trim_heap()  # what reading the new config freed
        self.notifier.send(READY=1, STATUS=self._status_text(supervisor))

    def stopping(self, supervisor: Supervisor, remaining_sec: float) -> None:
        extend = remaining_sec + supervisor.settings.kill_grace_sec + 5
        self.notifier.send(
            STOPPING=1,
            STATUS=f"stopping: {supervisor.running_count} runs to finish",
            EXTEND_TIMEOUT_USEC=int(extend * 1e6),
        )
