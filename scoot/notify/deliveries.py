"""Delivering the outbox: attempts handed to the courier, results taken, retries and give-ups.

Every step is non-blocking: the loop's poll ticks drive `pump`, and
`pump_wanted_in` says when the next one is worth a poll (a loop that runs
until stopped polls only then); `flush` is the only place that waits, after
the loop. An entry is written to the outbox
before its first attempt and rewritten after each failure, so whatever this
process leaves undelivered the next one takes over (`adopt`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from scoot.notify.courier import Courier
from scoot.notify.journal import Journal, details, what
from scoot.notify.outbox import Entry, Outbox, mark_alive, process_mark, retry_delay
from scoot.notify.payload import attempt_request

ADOPT_EVERY_SEC = 30.0  # how often the outbox is scanned for entries of dead processes
MAX_IN_FLIGHT = 64  # attempts handed to the courier and not answered yet


def outbox_dir(state: Path) -> Path:
    return state / "outbox"


def in_turn(entries: Iterable[Entry]) -> list[Entry]:
    """The entries whose turn it is, in the order given: a ping waits for every older
    ping of its job, under way or not (a job's pings arrive in order)."""
    listed = list(entries)
    eldest: dict[str, str] = {}  # job id -> the delivery id of its oldest ping
    for entry in listed:
        if entry.kind == "ping":
            key = str(entry.data.get("job_id"))
            if key not in eldest or entry.delivery_id < eldest[key]:
                eldest[key] = entry.delivery_id
    return [
        entry
        for entry in listed
        if entry.kind != "ping" or eldest[str(entry.data.get("job_id"))] == entry.delivery_id
    ]


def due_entries(
    entries: Iterable[Entry], in_flight: Iterable[str], now: float, room: int
) -> list[Entry]:
    """What to attempt now, oldest first: in turn, due and not under way."""
    busy = set(in_flight)
    picked: list[Entry] = []
    for entry in sorted(in_turn(entries), key=lambda e: e.delivery_id):
        if entry.delivery_id in busy or float(entry.data.get("next_at") or 0) > now:
            continue
        if len(picked) < room:
            picked.append(entry)
    return picked


def next_pump_in(
    entries: Iterable[Entry], in_flight: Collection[str], now: float, max_age_sec: float
) -> float | None:
    """Seconds until a pump has something to do for `entries`, or None: nothing.

    At once while attempts are under way (their results are read by pumping);
    else the earliest first attempt, retry or give-up of an entry in turn.
    """
    if in_flight:
        return 0.0
    instants: list[float] = []
    for entry in in_turn(entries):
        instants.append(float(entry.data.get("next_at") or 0))
        instants.append(float(entry.data["created_at"]) + max_age_sec)
    return max(0.0, min(instants) - now) if instants else None


class Deliveries:
    """This process's undelivered entries, and the courier that attempts them."""

    def __init__(
        self,
        state: Path,
        journal: Journal,
        *,
        max_age_sec: Callable[[], float],
        adopt_child: Callable[[int], None],
        clock: Callable[[], float],
        environ: Mapping[str, str],
        rand: Callable[[], float],
    ) -> None:
        self.state = state
        self.journal = journal
        self._max_age_sec = max_age_sec
        self._adopt_child = adopt_child
        self._clock = clock
        self._environ = environ
        self._rand = rand
        self.outbox = Outbox(outbox_dir(state))
        self.courier = Courier()
        self.entries: dict[str, Entry] = {}  # the entries this process delivers
        self.in_flight: dict[str, int] = {}  # delivery_id -> attempt number
        self.mark = process_mark()
        self._next_adopt = 0.0
        self._adopt_lock: int | None = None  # flock fd: this process takes over leftovers

    def add(self, data: dict[str, Any], now: float) -> Entry:
        """A new entry, durable before its first attempt."""
        data.update(
            created_at=round(now, 3), attempts=0, next_at=0, last_error=None, owner=self.mark
        )
        entry = Entry(data)
        self._write(entry)
        self.entries[entry.delivery_id] = entry
        self.journal.log(entry, "queued")
        return entry

    def _write(self, entry: Entry) -> None:
        try:
            self.outbox.write(entry)
        except OSError as exc:
            self.journal.write_failed(f"cannot write {self.outbox.directory} ({exc.strerror})")

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

    def pump_wanted_in(self) -> float:
        """Seconds until `pump` is next worth calling (the outbox scan included)."""
        now = self._clock()
        found = next_pump_in(self.entries.values(), self.in_flight, now, self._max_age_sec())
        scan = max(0.0, self._next_adopt - now)
        return scan if found is None else min(found, scan)

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
        max_age = self._max_age_sec()
        for entry in list(self.entries.values()):
            if (
                entry.delivery_id not in self.in_flight
                and now - float(entry.data["created_at"]) > max_age
            ):
                self._abandon(entry, max_age)
        room = MAX_IN_FLIGHT - len(self.in_flight)
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
        if entry.kind == "ping":
            request: dict[str, Any] = {
                "id": entry.delivery_id,
                "timeout_sec": data.get("timeout_sec"),
                "url": data["url"],
                "method": "GET",
                "headers": {"User-Agent": "scoot-ping/1"},
            }
        else:
            secret = self._environ.get(data["secret_env"]) if data.get("secret_env") else None
            request = attempt_request(
                data["payload"],
                attempt,
                url=data.get("url"),
                command=data.get("command"),
                timeout_sec=data.get("timeout_sec"),
                secret=secret,
                now=now,
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
        fields = details(entry, attempt, result)
        if result.get("ok"):
            with contextlib.suppress(OSError):
                self.outbox.remove(entry)
            del self.entries[delivery_id]
            self.journal.log(entry, "sent", result)
            self.journal.audit(
                "notify_sent", f"{what(entry)} delivered (attempt {attempt})", **fields
            )
            return
        delay = retry_delay(attempt, self._rand)
        entry.data["next_at"] = round(self._clock() + delay, 3)
        entry.data["last_error"] = result.get("error")
        self._write(entry)
        self.journal.log(entry, "failed", result)
        self.journal.audit(
            "notify_failed",
            f"{what(entry)} not delivered (attempt {attempt}): {result.get('error')}; "
            f"retried in {delay:.0f} s",
            **fields,
        )

    def _abandon(self, entry: Entry, max_age: float) -> None:
        with contextlib.suppress(OSError):
            self.outbox.remove(entry)
        del self.entries[entry.delivery_id]
        attempts = int(entry.data.get("attempts") or 0)
        self.journal.log(entry, "abandoned")
        self.journal.audit(
            "notify_abandoned",
            f"{what(entry)} abandoned after {attempts} attempt(s) in {max_age / 3600:g} h "
            f"(max_age_hours); last error: {entry.data.get('last_error')}",
            **details(entry, attempts, {"error": entry.data.get("last_error")}),
        )
        self.journal.warn(f"{what(entry)} abandoned: undelivered for {max_age / 3600:g} h")

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

    def close(self) -> None:
        self.courier.stop()
        if self._adopt_lock is not None:
            os.close(self._adopt_lock)
            self._adopt_lock = None
