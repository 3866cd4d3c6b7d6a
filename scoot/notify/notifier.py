"""The run-event subscriber that turns outcomes into notifications and pings.

It is told of run events by the supervisor (`observe`), writes each
notification to the outbox before any attempt, hands due attempts to the
courier and records what came back. Every step is non-blocking: the loop's
poll ticks drive it; `flush` is the only place that waits, after the loop.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import random
import select
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from scoot.notify.courier import Courier
from scoot.notify.events import DEFAULT_NOTIFY_ON, JobMemory, end_events, remember, wanted
from scoot.notify.outbox import (
    Entry,
    Outbox,
    mark_alive,
    new_delivery_id,
    process_mark,
    replace_file,
    retry_delay,
)
from scoot.notify.payload import body_for, build_payload, headers_for
from scoot.notify.pings import end_ping, ping_url
from scoot.notify.settings import NotifySettings, Target
from scoot.records.audit import append_record

ADOPT_EVERY_SEC = 30.0  # how often the outbox is scanned for entries of dead processes
PING_TIMEOUT_SEC = 10.0


def outbox_dir(state: Path) -> Path:
    return state / "outbox"


def delivery_log(state: Path) -> Path:
    return state / "notify.jsonl"


def due_entries(
    entries: Iterable[Entry], in_flight: Iterable[str], now: float, room: int
) -> list[Entry]:
    """What to attempt now, oldest first: due, not under way, and for pings the
    oldest of their job's (a job's pings arrive in order)."""
    busy = set(in_flight)
    pinged: set[str] = set()
    picked: list[Entry] = []
    for entry in sorted(entries, key=lambda e: e.delivery_id):
        is_ping = entry.kind == "ping"
        key = str(entry.data.get("job_id"))
        if is_ping:
            if key in pinged:
                continue
            pinged.add(key)
        if entry.delivery_id in busy or float(entry.data.get("next_at") or 0) > now:
            continue
        if len(picked) < room:
            picked.append(entry)
    return picked


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
        self.state = state
        self.home_root = home_root
        self._settings = settings
        self._jobs = jobs
        self._audit = audit
        self._warn = warn
        self._redact = redact
        self._adopt_child = adopt_child
        self._clock = clock
        self._environ = os.environ if environ is None else environ
        self._rand = rand
        self.outbox = Outbox(outbox_dir(state))
        self.courier = Courier()
        self.entries: dict[str, Entry] = {}  # the entries this process delivers
        self.in_flight: dict[str, int] = {}  # delivery_id -> attempt number
        self.mark = process_mark()
        self.host = socket.gethostname()
        self._next_adopt = 0.0
        self._memory_path = state / "notify_memory.json"
        self._write_failing = False
        self._adopt_lock: int | None = None  # flock fd: this process takes over leftovers

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
                self.pump()
        except Exception as exc:  # a notification is never worth a run's record
            self._warn(f"notification step failed ({type(exc).__name__}: {exc})")

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
            memory = self._update_memory(job.id, status, answer)
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
        memory = self._update_memory(job.id, "skipped", None)
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
        return self._queue(data, now)

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
        self._queue(data, now)

    def _queue(self, data: dict[str, Any], now: float) -> Entry:
        data.update(
            created_at=round(now, 3), attempts=0, next_at=0, last_error=None, owner=self.mark
        )
        entry = Entry(data)
        try:
            self.outbox.write(entry)  # durable before the first attempt
        except OSError as exc:
            self._write_failed(f"cannot write {self.outbox.directory} ({exc.strerror})")
        self.entries[entry.delivery_id] = entry
        self._log(entry, "queued")
        return entry

    # -- delivering -------------------------------------------------------------
    def adopt(self) -> int:
        """Take over the entries of processes that are gone (killed, crashed); how many.

        Only the holder of the outbox's flock does this, so two live processes
        never both take the same entry; the lock ends with its holder, even
        at kill -9, and the next process takes it. Nothing is rewritten:
        an entry belongs to its maker while that lives, else to the holder.
        """
        self._next_adopt = self._clock() + ADOPT_EVERY_SEC
        if not self._hold_adopt_lock():
            return 0
        found, _ = self.outbox.load()
        alive: dict[str, bool] = {}
        taken = 0
        for entry in found:
            if entry.delivery_id in self.entries:
                continue
            owner = str(entry.data.get("owner") or "")
            if owner == self.mark:
                continue  # ours and already done with
            if owner not in alive:
                alive[owner] = mark_alive(owner)
            if alive[owner]:
                continue
            self.entries[entry.delivery_id] = entry
            taken += 1
        return taken

    def _hold_adopt_lock(self) -> bool:
        if self._adopt_lock is not None:
            return True
        try:
            fd = os.open(self.state / "outbox.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._adopt_lock = fd
        return True

    def pump(self) -> None:
        """Take results, abandon what is too old, hand what is due to the courier."""
        now = self._clock()
        if now >= self._next_adopt:
            self.adopt()
        if self.courier.running:
            results, gone = self.courier.results()
            for result in results:
                self._took(result)
            if gone:
                self.in_flight.clear()  # their entries stay and are retried
        max_age = self._settings().max_age_hours * 3600
        for entry in list(self.entries.values()):
            if (
                entry.delivery_id not in self.in_flight
                and now - float(entry.data["created_at"]) > max_age
            ):
                self._abandon(entry, max_age)
        room = 64 - len(self.in_flight)
        if room <= 0:
            return
        due = due_entries(self.entries.values(), self.in_flight, now, room)
        if not due:
            return
        if not self.courier.running:
            self._adopt_child(self.courier.start())
        for entry in due:
            self._send(entry, now)

    def _send(self, entry: Entry, now: float) -> None:
        data = entry.data
        attempt = int(data.get("attempts") or 0) + 1
        request: dict[str, Any] = {"id": entry.delivery_id, "timeout_sec": data.get("timeout_sec")}
        if entry.kind == "ping":
            request.update(url=data["url"], method="GET", headers={"User-Agent": "scoot-ping/1"})
        else:
            body = body_for(data["payload"], attempt)
            secret = self._environ.get(data["secret_env"]) if data.get("secret_env") else None
            request["body"] = base64.b64encode(body).decode()
            if data.get("command"):
                request["command"] = data["command"]
            else:
                request.update(
                    url=data["url"],
                    method="POST",
                    headers=headers_for(data["payload"], body, secret, now),
                )
        self.in_flight[entry.delivery_id] = attempt
        self.courier.send(request)

    def _took(self, result: dict[str, Any]) -> None:
        delivery_id = str(result.get("id"))
        attempt = self.in_flight.pop(delivery_id, None)
        entry = self.entries.get(delivery_id)
        if entry is None or attempt is None:
            return
        entry.data["attempts"] = attempt
        details = _details(entry, attempt, result)
        if result.get("ok"):
            with contextlib.suppress(OSError):
                self.outbox.remove(entry)
            del self.entries[delivery_id]
            self._log(entry, "sent", result)
            self._audit("notify_sent", f"{_what(entry)} delivered (attempt {attempt})", **details)
            return
        delay = retry_delay(attempt, self._rand)
        entry.data["next_at"] = round(self._clock() + delay, 3)
        entry.data["last_error"] = result.get("error")
        try:
            self.outbox.write(entry)
        except OSError as exc:
            self._write_failed(f"cannot write {self.outbox.directory} ({exc.strerror})")
        self._log(entry, "failed", result)
        self._audit(
            "notify_failed",
            f"{_what(entry)} not delivered (attempt {attempt}): {result.get('error')}; "
            f"retried in {delay:.0f} s",
            **details,
        )

    def _abandon(self, entry: Entry, max_age: float) -> None:
        with contextlib.suppress(OSError):
            self.outbox.remove(entry)
        del self.entries[entry.delivery_id]
        attempts = int(entry.data.get("attempts") or 0)
        self._log(entry, "abandoned")
        self._audit(
            "notify_abandoned",
            f"{_what(entry)} abandoned after {attempts} attempt(s) in {max_age / 3600:g} h "
            f"(max_age_hours); last error: {entry.data.get('last_error')}",
            **_details(entry, attempts, {"error": entry.data.get("last_error")}),
        )
        self._warn(f"{_what(entry)} abandoned: undelivered for {max_age / 3600:g} h")

    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` s for this process's deliveries; how many are left."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            left = time.monotonic() - deadline
            if not self.entries or left >= 0:
                return len(self.entries)
            wait = min(-left, 0.25)
            fd = self.courier.results_fd
            if fd is not None and self.in_flight:
                select.select([fd], [], [], wait)
            else:
                time.sleep(wait)

    def finish(self, timeout: float) -> int:
        """`flush`, then say what is left and where; how many are left."""
        left = self.flush(timeout)
        if left:
            self._warn(
                f"{left} notification(s) or ping(s) not delivered within {timeout:g} s "
                f"(flush_timeout_sec); kept in {self.outbox.directory} for the next scoot "
                "process of this runtime directory (see: scoot notify pending)"
            )
        return left

    def close(self) -> None:
        self.courier.stop()
        if self._adopt_lock is not None:
            os.close(self._adopt_lock)
            self._adopt_lock = None

    # -- records ----------------------------------------------------------------
    def _update_memory(self, job_id: str, status: str, answer: Any) -> JobMemory:
        """The job's memory before this run, after saving the one after it."""
        lock_path = self.state / "notify_memory.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            memories = read_memories(self._memory_path)
            before = memories.get(job_id, JobMemory())
            after = remember(before, status, answer if isinstance(answer, str) else None)
            memories[job_id] = after
            try:
                # Not fsynced: after a power cut the worst is one recovery or
                # change judged against an older run.
                shown = {
                    k: {"last_status": m.last_status, "last_ok_digest": m.last_ok_digest}
                    for k, m in memories.items()
                }
                replace_file(self._memory_path, orjson.dumps(shown) + b"\n", sync=False)
            except OSError as exc:
                self._write_failed(f"cannot write {self._memory_path} ({exc.strerror})")
            return before
        finally:
            os.close(fd)

    def _log(self, entry: Entry, state: str, result: dict[str, Any] | None = None) -> None:
        line = {
            "at": round(self._clock(), 3),
            "delivery_id": entry.delivery_id,
            "kind": entry.kind,
            "event": entry.data.get("event"),
            "job_id": entry.data.get("job_id"),
            "run_id": entry.data.get("run_id"),
            "target": entry.data.get("target"),
            "state": state,
            "attempt": entry.data.get("attempts"),
            "http_status": (result or {}).get("http_status"),
            "error": (result or {}).get("error"),
        }
        try:
            append_record(delivery_log(self.state), line)
        except OSError as exc:
            self._write_failed(f"cannot write {delivery_log(self.state)} ({exc.strerror})")

    def _write_failed(self, text: str) -> None:
        if not self._write_failing:
            self._write_failing = True
            self._warn(text)


def read_memories(path: Path) -> dict[str, JobMemory]:
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        str(k): JobMemory(v.get("last_status"), v.get("last_ok_digest"))
        for k, v in raw.items()
        if isinstance(v, dict)
    }


def _notify_on(job: Any) -> tuple[str, ...]:
    return job.notify_on if job.notify_on is not None else DEFAULT_NOTIFY_ON


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


def _run_fields(fields: dict[str, Any], *, ended: bool) -> dict[str, Any]:
    run = {k: fields.get(k) for k in RUN_FIELDS}
    if not ended:
        run["status"] = "running"
    return run


def _what(entry: Entry) -> str:
    if entry.kind == "ping":
        return f"ping {entry.data.get('event')} of job {entry.data.get('job_id')}"
    return (
        f"notification {entry.data.get('event')} of job {entry.data.get('job_id')} "
        f"to {entry.data.get('target')} ({entry.delivery_id})"
    )


def _details(entry: Entry, attempt: int, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": entry.data.get("run_id"),
        "job_id": entry.data.get("job_id"),
        "delivery_id": entry.delivery_id,
        "target": entry.data.get("target"),
        "event": entry.data.get("event"),
        "notify_kind": entry.kind,
        "attempt": attempt,
        "http_status": result.get("http_status"),
        "error": result.get("error"),
    }
