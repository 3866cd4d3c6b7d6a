"""The poll clock and the scheduler's claims: at each poll or due instant, what fires joins the queue."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.schedule.scheduler import Scheduler, Verdicts
from scoot.supervise.hooks import Endpoint
from scoot.supervise.releases import LedgerReleases
from scoot.supervise.requests import Claim
from scoot.supervise.runner import RunRequest
from scoot.supervise.settings import Settings
from scoot.supervise.wallclock import WallClockWatch

# In how many seconds a tick observer needs a poll, or None: not before something else wakes.
TickWant = Callable[[], float | None]


def poll_wait(
    until_poll: float, *, counting: bool, clock_watched: bool, wanted: Iterable[float]
) -> float | None:
    """Seconds until the loop must wake for a poll (a tick), or None: no poll is needed.

    Counting ticks (`--ticks N`), or with no watch on the wall clock, every
    poll is needed. Otherwise a poll is only worth a wake when something
    wants one (`wanted`: seconds from now, such as a state to publish or a
    notification to retry), read only then; it still comes on the poll grid,
    never sooner.
    """
    if counting or not clock_watched:
        return until_poll
    soonest = min(wanted, default=None)
    return None if soonest is None else max(until_poll, soonest)


class Poller:
    """Counts polls (ticks) and turns what the scheduler claimed into queued requests."""

    def __init__(
        self,
        scheduler: Scheduler | None,
        recorder: Recorder,
        runlog: RunLog,
        releases: LedgerReleases,
        emit: Callable[..., None],
        clock: Callable[[], float],
    ) -> None:
        self.scheduler = scheduler
        self.recorder = recorder
        self.runlog = runlog
        self.releases = releases
        self.emit = emit
        self.clock = clock
        self.ticks_done = 0
        self.next_poll_mono = time.monotonic()
        # Who needs polls (tick events) and in how many seconds, or None: see poll_wait.
        self.tick_wants: list[TickWant] = []
        self.wallclock: WallClockWatch | None = None

    def watch_wall_clock(self, settings: Settings) -> list[Endpoint]:
        """A loop that runs until stopped wakes for due instants and clock sets, not every
        poll; counting ticks, it polls anyway and needs no watch on the wall clock. What
        the loop's selector must watch for it."""
        if settings.use_scheduler and not settings.ticks:
            self.wallclock = WallClockWatch(self.clock, self.runlog.warn)
            return [self.wallclock]
        return []

    def poll(
        self,
        settings: Settings,
        queue: deque[RunRequest],
        running: int,
        make_request: Callable[[Claim], RunRequest],
    ) -> bool:
        """Ask the scheduler what is due now; True when this pass was a poll (a tick)."""
        now_mono = time.monotonic()
        polled = now_mono >= self.next_poll_mono
        if polled:
            self.ticks_done += 1
            period = settings.poll_ms / 1000
            self.next_poll_mono += period
            if self.next_poll_mono <= now_mono:  # slept through polls: no burst of ticks
                self.next_poll_mono = now_mono + period
        verdicts = self._decide(settings) if self.scheduler is not None else None
        if verdicts is not None:
            self._audit(verdicts.events)
            for claim in verdicts.claimed:
                request = make_request(claim)
                if running + len(queue) >= settings.max_concurrent:
                    self.recorder.run_event(
                        request,
                        "job_queued",
                        f"job {request.job_id} waits for a free slot "
                        f"(max_concurrent={settings.max_concurrent})",
                        instant=request.instant,
                    )
                queue.append(request)
                self.emit("job_queued", job_id=request.job_id, run_id=request.run_id)
        if polled:
            self.emit("tick")
        return polled

    def _decide(self, settings: Settings) -> Verdicts | None:
        assert self.scheduler is not None
        try:
            verdicts = self.scheduler.decide(self.clock() + settings.claim_lead_sec)
        except OSError as exc:
            self.releases.failed(
                f"cannot write the ledger ({exc.strerror}); nothing is fired until it is writable"
            )
            return None
        if verdicts.wrote_ledger:
            self.releases.ok()
        return verdicts

    def _audit(self, events: list[tuple[str, str, dict[str, Any]]]) -> None:
        for kind, msg, details in events:
            self.recorder.event(kind, msg, **details)
            self.emit(kind, **details)
            if kind == "job_skipped":
                self.runlog.err(f"[scoot] {msg}")

    def wake_at(self, settings: Settings, now_mono: float) -> list[float]:
        """When the loop must wake for the scheduler, in seconds from now (the wall clock's
        timer is armed for the same instant)."""
        watch = self.wallclock
        # Asked only when polls are not counted: a generator poll_wait may leave unread.
        wanted = (wait for want in self.tick_wants if (wait := want()) is not None)
        waits: list[float] = []
        poll = poll_wait(
            self.next_poll_mono - now_mono,
            counting=bool(settings.ticks),
            clock_watched=watch is not None and watch.watching,
            wanted=wanted,
        )
        if poll is not None:
            waits.append(poll)
        claim_at = self.claim_at(settings)
        if claim_at is not None:
            waits.append(claim_at - self.clock())
        if watch is not None and watch.arm(claim_at):
            waits.append(0.0)  # the clock was set during this pass: decide again at once
        return waits

    def claim_at(self, settings: Settings) -> float | None:
        """The wall instant the scheduler next claims at: its next due, less the lead."""
        due = self.scheduler.next_due() if self.scheduler is not None else None
        return None if due is None else due - settings.claim_lead_sec

    def sooner(self, poll_ms: int) -> None:
        """A shorter poll period takes effect now, not after one more old period."""
        self.next_poll_mono = min(self.next_poll_mono, time.monotonic() + poll_ms / 1000)
