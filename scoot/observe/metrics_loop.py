"""Wiring `[metrics]` into a scheduler loop: the live view, the listener, the text file."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scoot.instance.config import MetricsConfig
from scoot.observe.families import LiveView
from scoot.observe.metrics import MetricsState, write_textfile
from scoot.schedule.triggers import Trigger, next_fire
from scoot.supervise.supervisor import Supervisor

# Between run boundaries the text file is still refreshed this often (next fires, heartbeat).
TEXTFILE_REFRESH_SEC = 10.0


def period_of(trigger: Trigger, now: float) -> float | None:
    """The gap between a trigger's next two fires; None for a one-shot."""
    first = next_fire(trigger, now)
    second = next_fire(trigger, first) if first is not None else None
    return second - first if first is not None and second is not None else None


def paused_jobs(scheduler: Any, now: float) -> set[str]:
    """Ids of paused jobs: from the scheduler's pause store when it keeps one."""
    store = getattr(scheduler, "pauses", None)
    if store is None:
        return {job_id for job_id, job in scheduler.jobs.items() if getattr(job, "paused", False)}
    try:
        pauses = store.read()
    except OSError:
        return set()
    return {job_id for job_id, pause in pauses.items() if pause.active(now)}


def live_view_of(
    supervisor: Supervisor, heartbeat: list[float], periods: dict[str, float | None]
) -> LiveView:
    """What the loop knows now; `periods` caches each trigger's period by its key."""
    scheduler = supervisor.scheduler
    jobs: dict[str, str] = {}
    next_fires: dict[str, float] = {}
    job_periods: dict[str, float] = {}
    if scheduler is not None:
        next_fires = scheduler.next_due_by_job()
        now = time.time()
        paused = paused_jobs(scheduler, now)
        for job_id, job in scheduler.jobs.items():
            key = job.trigger.key
            if key not in periods:
                periods[key] = period_of(job.trigger, now)
            period = periods[key]
            if period is not None:
                job_periods[job_id] = period
            if job_id in paused:
                jobs[job_id] = "paused"
            else:
                jobs[job_id] = "active" if job_id in next_fires else "inactive"
    return LiveView(
        jobs=jobs,
        next_fires=next_fires,
        periods=job_periods,
        in_flight=supervisor.running_count,
        queued=len(supervisor.queue),
        record_write_errors=supervisor.recorder.write_errors,
        heartbeat=heartbeat[0],
    )


# Rendering is not started when a fire is due within its expected cost plus this margin.
FIRE_MARGIN_SEC = 0.05


def fire_clear_of(supervisor: Supervisor) -> Callable[[float], bool]:
    """Whether `cost` seconds spent rendering now would end before the next due fire."""

    def clear(cost: float) -> bool:
        dues: list[float] = []
        scheduler = supervisor.scheduler
        if scheduler is not None and supervisor.firing:
            due = scheduler.next_due()
            if due is not None:
                dues.append(due - supervisor.settings.claim_lead_sec)
        head = supervisor.queue[0] if supervisor.queue else None
        if head is not None and head.instant is not None and head.instant > time.time():
            dues.append(head.instant)  # claimed ahead of its instant, launched on it
        if not dues:
            return True
        return min(dues) - time.time() > cost + FIRE_MARGIN_SEC

    return clear


class TextfileWriter:
    """Rewrites the .prom file at run boundaries and polls, at most once per pass of events."""

    def __init__(
        self,
        path: Path,
        state: MetricsState,
        supervisor: Supervisor,
        may_render: Callable[[float], bool] = lambda _cost: True,
    ) -> None:
        self.path = path
        self._may_render = may_render
        self._cost = 0.0
        self.state = state
        self.supervisor = supervisor
        self._dirty = True
        self._written_mono = 0.0
        self._failing = False

    def on_event(self, kind: str, _fields: dict[str, Any]) -> None:
        if kind in ("job_start", "job_end", "job_queued", "job_skipped", "job_missed"):
            self._dirty = True
            return
        if kind == "stopped":
            self.state.up = False
            self._write()
        elif (
            kind == "tick"
            and self.tick_wanted_in() <= 0
            and self._may_render(self._cost)  # else a later poll writes it, after the fire
        ):
            self._write()

    def tick_wanted_in(self) -> float:
        """When the file is next to be written: at a change, else after the refresh period."""
        if self._dirty:
            return 0.0
        return self._written_mono + TEXTFILE_REFRESH_SEC - time.monotonic()

    def _write(self) -> None:
        started = time.monotonic()
        try:
            write_textfile(self.path, self.state)
        except OSError as exc:
            if not self._failing:
                self._failing = True
                self.supervisor.runlog.warn(
                    f"cannot write the metrics file {self.path} ({exc.strerror}); will retry"
                )
            return
        if self._failing:
            self._failing = False
            self.supervisor.runlog.warn(f"the metrics file {self.path} is writable again")
        self._dirty = False
        self._written_mono = time.monotonic()
        self._cost = max(self._written_mono - started, self._cost * 0.5)


def attach_metrics(supervisor: Supervisor, config: MetricsConfig) -> MetricsState:
    """Serve and/or write the loop's metrics; a listen address that cannot be bound raises."""
    from scoot.observe.metrics import render

    heartbeat = [time.time()]

    def beat(kind: str, _fields: dict[str, Any]) -> None:
        if kind == "tick":
            heartbeat[0] = time.time()

    periods: dict[str, float | None] = {}
    state = MetricsState(supervisor.home.runs, lambda: live_view_of(supervisor, heartbeat, periods))
    state.tally.catch_up()  # seed the counters from the records before the first scrape
    supervisor.observe(beat)
    supervisor.observe(state.on_event)
    if config.listen:
        from scoot.observe.metrics_http import MetricsServer, parse_listen

        host, port = parse_listen(config.listen)
        supervisor.add_endpoint(
            MetricsServer(host, port, lambda: render(state), may_render=fire_clear_of(supervisor))
        )
    if config.textfile:
        writer = TextfileWriter(
            Path(config.textfile), state, supervisor, may_render=fire_clear_of(supervisor)
        )
        supervisor.observe(writer.on_event, wants_ticks=writer.tick_wanted_in)
    return state
