"""The run-event subscriber that turns outcomes into notifications and pings.

It is told of run events by the supervisor (`observe`), decides what each
event means for the job's owner (events.py, memory.py), writes each
notification or ping to the outbox before any attempt, and leaves the
attempts to its deliveries (deliveries.py), which the loop's poll ticks
drive. `finish` is the only place that waits, after the loop.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from scoot.notify.deliveries import Deliveries
from scoot.notify.events import DEFAULT_NOTIFY_ON, end_events, wanted
from scoot.notify.journal import Journal
from scoot.notify.memory import JobMemories
from scoot.notify.outbox import Entry, new_delivery_id
from scoot.notify.payload import build_payload
from scoot.notify.pings import end_ping, ping_url
from scoot.notify.settings import NotifySettings, Target

PING_TIMEOUT_SEC = 10.0

# The fields of a run that its notifications carry (from run events or runs.jsonl lines).
RUN_FIELDS = (
    "job_id",
    "run_id",
    "status",
    "answer",
    "error",
    "instant",
    "started_at",
    "ended_at",
    "duration_ms",
    "tokens",
    "cost",
)


class Notifier:
    def __init__(
        self,
        state: Path,
        home_root: Path,
        *,
        settings: Callable[[], NotifySettings],
        jobs: Callable[[], Mapping[str, Any]],
        audit: Callable[..., None],
        warn: Callable[[str], None],
        redact: Callable[[Any], Any] = lambda value: value,
        adopt_child: Callable[[int], None] = lambda pid: None,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.home_root = home_root
        self._settings = settings
        self._jobs = jobs
        self._warn = warn
        self._redact = redact
        self._clock = clock
        self.host = socket.gethostname()
        journal = Journal(state, audit=audit, warn=warn, clock=clock)
        self.memories = JobMemories(state, write_failed=journal.write_failed)
        self.deliveries = Deliveries(
            state,
            journal,
            max_age_sec=lambda: settings().max_age_hours * 3600,
            adopt_child=adopt_child,
            clock=clock,
            environ=os.environ if environ is None else environ,
            rand=rand,
        )

    # -- run events -------------------------------------------------------------
    def observe(self, kind: str, fields: dict[str, Any]) -> None:
        """The supervisor's run-event subscriber; must never raise."""
        try:
            if kind == "job_start":
                self._started(fields)
            elif kind == "job_end":
                self._ended(fields)
            elif kind == "job_missed":
                self._missed(fields)
            elif kind == "job_paused":
                self._paused(fields)
            elif kind == "job_skipped" and fields.get("reason") == "budget":
                self._budget_skipped(fields)
            elif kind == "tick":
                self.deliveries.pump()
        except Exception as exc:  # a notification is never worth a run's record
            self._warn(f"notification step failed ({type(exc).__name__}: {exc})")

    def tick_wanted_in(self) -> float:
        """When the deliveries next need a poll tick; must never raise."""
        try:
            return self.deliveries.pump_wanted_in()
        except Exception:  # an odd outbox entry: poll as often as the loop does
            return 0.0

    def _job(self, job_id: Any) -> Any:
        return self._jobs().get(job_id) if isinstance(job_id, str) else None

    def _started(self, fields: dict[str, Any]) -> None:
        job = self._job(fields.get("job_id"))
        if job is None:
            return
        run = _run_fields(fields, ended=False)
        if job.ping_url:
            self._queue_ping(job, run, "start")
        if "start" in _notify_on(job):
            self._queue_events(job, run, ["start"])

    def _ended(self, fields: dict[str, Any]) -> None:
        job = self._job(fields.get("job_id"))
        if job is None:
            return
        run = _run_fields(fields, ended=True)
        status = str(run.get("status"))
        if job.ping_url:
            self._queue_ping(job, run, end_ping(status))
        if job.notify:
            answer = fields.get("full_answer", fields.get("answer"))
            memory = self.memories.update(job.id, status, answer)
            self._queue_events(
                job, run, wanted(end_events(status, answer, memory), _notify_on(job))
            )

    def _missed(self, fields: dict[str, Any]) -> None:
        job = self._job(fields.get("job_id"))
        if job is None or "missed" not in _notify_on(job):
            return
        run = {
            "job_id": job.id,
            "run_id": None,
            "status": "missed",
            "error": f"{fields.get('count')} scheduled instant(s) missed",
            "instant": fields.get("first_instant"),
        }
        self._queue_events(job, run, ["missed"])

    def _budget_skipped(self, fields: dict[str, Any]) -> None:
        """A fire not launched because a budget is spent is a failure (the
        scheduler tells of it once per exhaustion, so it is notified once)."""
        job = self._job(fields.get("job_id"))
        if job is None or not job.notify:
            return
        spent = fields.get("spent")
        run = {
            "job_id": job.id,
            "run_id": None,
            "status": "skipped",
            "error": f"fire skipped: {spent if isinstance(spent, str) else 'budget spent'}",
            "instant": fields.get("instant"),
        }
        memory = self.memories.update(job.id, "skipped", None)
        self._queue_events(job, run, wanted(end_events("skipped", None, memory), _notify_on(job)))

    def _paused(self, fields: dict[str, Any]) -> None:
        job = self._job(fields.get("job_id"))
        if job is None or "paused" not in _notify_on(job):
            return
        run = {"job_id": job.id, "run_id": None, "status": "paused", "error": fields.get("reason")}
        self._queue_events(job, run, ["paused"])

    # -- queueing ---------------------------------------------------------------
    def _queue_events(self, job: Any, run: dict[str, Any], events: list[str]) -> None:
        targets = self._settings().targets
        for event in events:
            for name in job.notify:
                target = targets.get(name)
                if target is not None:
                    self.queue_notification(target, event, run)

    def queue_notification(self, target: Target, event: str, run: dict[str, Any]) -> Entry:
        now = self._clock()
        delivery_id = new_delivery_id(now)
        payload = self._redact(
            build_payload(
                event=event,
                delivery_id=delivery_id,
                run=run,
                host=self.host,
                home=str(self.home_root),
            )
        )
        data = {
            "delivery_id": delivery_id,
            "kind": "notify",
            "event": event,
            "job_id": run.get("job_id"),
            "run_id": run.get("run_id"),
            "target": target.name,
            "url": target.url,
            "command": list(target.command) if target.command else None,
            "secret_env": target.secret_env,
            "timeout_sec": target.timeout_sec,
            "payload": payload,
        }
        return self.deliveries.add(data, now)

    def _queue_ping(self, job: Any, run: dict[str, Any], when: str) -> None:
        now = self._clock()
        data = {
            "delivery_id": new_delivery_id(now),
            "kind": "ping",
            "event": when,
            "job_id": job.id,
            "run_id": run.get("run_id"),
            "target": None,
            "url": ping_url(job.ping_url, when, str(run.get("run_id"))),
            "timeout_sec": PING_TIMEOUT_SEC,
        }
        self.deliveries.add(data, now)

    # -- after the loop ---------------------------------------------------------
    def finish(self, timeout: float) -> int:
        """Wait up to `timeout` s for this process's deliveries, then say what is
        left and where; how many are left."""
        left = self.deliveries.flush(timeout)
        if left:
            self._warn(
                f"{left} notification(s) or ping(s) not delivered within {timeout:g} s "
                f"(flush_timeout_sec); kept in {self.deliveries.outbox.directory} for the next "
                "scoot process of this runtime directory (see: scoot notify pending)"
            )
        return left

    def close(self) -> None:
        self.deliveries.close()


def _notify_on(job: Any) -> tuple[str, ...]:
    return job.notify_on if job.notify_on is not None else DEFAULT_NOTIFY_ON


def _run_fields(fields: dict[str, Any], *, ended: bool) -> dict[str, Any]:
    run = {k: fields.get(k) for k in RUN_FIELDS}
    if not ended:
        run["status"] = "running"
    return run
