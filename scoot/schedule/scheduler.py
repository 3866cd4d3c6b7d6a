"""What is due: the job heap, the decisions, and claims in the ledger.

Each due job's decision comes from `scoot.schedule.decision.decide_job` (pure,
over `scoot.schedule.planner.plan`). This module keeps the heap of next due
instants and applies the decisions to the ledger in one transaction per
wake-up, so an occurrence is claimed (and its run recorded as started) before
any worker exists.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from scoot.schedule.decision import Event, Facts, decide_job
from scoot.schedule.jitter import jitter_ms_for
from scoot.schedule.jobs import Job
from scoot.schedule.ledger import InFlight, JobEntry, Ledger, entry_for
from scoot.schedule.pauses import Pause, PauseStore
from scoot.supervise.procs import is_alive, start_time_of
from scoot.supervise.requests import Claim
from scoot.supervise.runner import RunRequest
from scoot.supervise.spec import new_run_id


@dataclass
class Verdicts:
    """What one wake-up decided: runs claimed, and the events to audit about it."""

    claimed: list[Claim] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    wrote_ledger: bool = False  # a ledger transaction was committed


class Scheduler:
    """Keeps each job's next due instant and turns due jobs into claimed runs."""

    def __init__(
        self,
        jobs: tuple[Job, ...],
        ledger: Ledger,
        *,
        now: float | None,
        is_running: Callable[[str], bool] = lambda _job_id: False,
        pauses: PauseStore | None = None,
    ) -> None:
        """`now=None` registers the jobs without scheduling them (manual runs).

        `pauses` is read at every decision, so a pause or resume written by
        another process counts from the next wake-up, without a reload.
        """
        self.ledger = ledger
        self.pauses = pauses
        self.jobs: dict[str, Job] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._generation: dict[str, int] = {}
        # The due instant of each job's live heap entry: asked by job without a scan.
        self._due: dict[str, float] = {}
        # Whether this process runs (or has queued) a job; the supervisor sets its own.
        self.is_running = is_running
        # Why a job's day budget forbids a start now, or None; the supervisor sets its own.
        self.budget_spent: Callable[[Job, float], str | None] = lambda _job, _now: None
        self._budget_skipped: set[str] = set()  # jobs whose exhaustion was already audited
        # How far ahead of the clock `decide`'s `now` looks (the supervisor claims ahead).
        self.claim_lead_sec = 0.0
        self._last_now: float | None = None  # the clock reading of the previous decision
        self._owner_pid = os.getpid()
        self._owner_start = start_time_of(self._owner_pid)
        for job in jobs:
            self.add(job, now)

    # -- the heap -------------------------------------------------------------
    def add(self, job: Job, due: float | None) -> None:
        self.jobs[job.id] = job
        self._push(job.id, due)

    def remove(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)
        self._generation[job_id] = self._generation.get(job_id, 0) + 1
        self._due.pop(job_id, None)

    def _push(self, job_id: str, due: float | None) -> None:
        generation = self._generation.get(job_id, 0) + 1
        self._generation[job_id] = generation
        if due is None:
            self._due.pop(job_id, None)
        else:
            self._due[job_id] = due
            heapq.heappush(self._heap, (due, generation, job_id))

    def next_due(self) -> float | None:
        while self._heap:
            due, generation, job_id = self._heap[0]
            if job_id in self.jobs and self._generation.get(job_id) == generation:
                return due
            heapq.heappop(self._heap)
        return None

    def _pop_due(self, now: float) -> list[str]:
        found: list[str] = []
        while True:
            due = self.next_due()
            if due is None or due > now:
                return found
            _, _, job_id = heapq.heappop(self._heap)
            del self._due[job_id]
            found.append(job_id)

    def next_due_by_job(self) -> dict[str, float]:
        """Each scheduled job's next due instant; a job that can never fire again is absent."""
        return {job_id: due for job_id, due in self._due.items() if job_id in self.jobs}

    def next_due_of(self, job_id: str) -> float | None:
        """When `job_id` is next due, or None."""
        return self._due.get(job_id) if job_id in self.jobs else None

    def has_future(self) -> bool:
        return self.next_due() is not None

    def _replan_all(self, now: float) -> None:
        """Make every scheduled job due at `now`, so the planner looks at each again."""
        for job_id in [job_id for job_id in self._due if job_id in self.jobs]:
            self._push(job_id, now)

    # -- decisions ------------------------------------------------------------
    def _busy_elsewhere(self, entry: JobEntry) -> InFlight | None:
        for flight in entry.in_flight.values():
            if flight.owner_pid == self._owner_pid:
                continue
            if is_alive(flight.owner_pid, flight.owner_start):
                return flight
        return None

    def decide(self, now: float) -> Verdicts:
        """Claim every due occurrence in one ledger transaction.

        Raises OSError when the ledger cannot be written; then nothing was
        claimed and the due jobs are retried at `now + retry_in`.
        """
        if self._last_now is not None and now < self._last_now:
            # The wall clock stepped back: due times computed before the step lie in
            # the future now (an every_sec job would stall for as long as the step).
            # The planner re-anchors what it must and keeps what was decided.
            self._replan_all(now)
        self._last_now = now
        due_ids = self._pop_due(now)
        verdicts = Verdicts()
        if not due_ids:
            return verdicts
        paused = self.pauses.read() if self.pauses is not None else {}
        next_dues: dict[str, float | None] = {}
        try:
            with self.ledger.transaction() as entries:
                for job_id in due_ids:
                    job = self.jobs[job_id]
                    entry = entry_for(entries, job.id, job.trigger.key)
                    pause = paused.get(job_id)
                    active_pause = pause if pause is not None and pause.active(now) else None
                    next_dues[job_id] = self._decide_one(job, entry, now, verdicts, active_pause)
        except OSError:
            for job_id in due_ids:
                self._push(job_id, now + 1.0)
            raise
        verdicts.wrote_ledger = True
        for job_id, due in next_dues.items():
            self._push(job_id, due)
        return verdicts

    def _decide_one(
        self,
        job: Job,
        entry: JobEntry,
        now: float,
        verdicts: Verdicts,
        pause: Pause | None = None,
    ) -> float | None:
        """Decide one due job (scoot.schedule.decision) and write the outcome into its entry."""
        facts = Facts(
            now,
            pause,
            budget_spent=lambda: self.budget_spent(job, now),
            holder=lambda: self._holder(job, entry),
            budget_skip_audited=job.id in self._budget_skipped,
            claim_lead_sec=self.claim_lead_sec,
        )
        decision = decide_job(job, entry, facts)
        if decision.first_seen is not None:
            entry.first_seen = decision.first_seen
        if decision.last_instant is not None:
            entry.last_instant = decision.last_instant
        if decision.budget_skip_audited is True:
            self._budget_skipped.add(job.id)
        elif decision.budget_skip_audited is False:
            self._budget_skipped.discard(job.id)
        verdicts.events.extend(decision.events)
        if decision.fire_instant is not None:
            verdicts.claimed.append(self._claim(job, entry, decision.fire_instant, now))
        return decision.next_due

    def _holder(self, job: Job, entry: JobEntry) -> str | None:
        """Who runs `job` already: another live scoot (by pid) or this process; else None."""
        other = self._busy_elsewhere(entry)
        if self.is_running(job.id) or other is not None:
            return f"pid {other.owner_pid}" if other else "this process"
        return None

    def _claim(self, job: Job, entry: JobEntry, instant: float, now: float) -> Claim:
        """A run of `instant`, recorded in flight in the entry (the transaction commits it)."""
        claim = Claim(
            job=job,
            run_id=new_run_id(now),
            instant=instant,
            jitter_ms=jitter_ms_for(job.id, job.trigger, instant, job.jitter_sec),
            claimed_at=now,
        )
        entry.add_flight(self.in_flight_for(claim, now))
        entry.last_fired = instant
        entry.last_run_id = claim.run_id
        return claim

    def in_flight_for(self, request: RunRequest | Claim, now: float) -> InFlight:
        return InFlight(request.run_id, request.instant, now, self._owner_pid, self._owner_start)

    def release(self, finished: list[RunRequest]) -> None:
        """Drop finished runs from the ledger's in-flight table (one transaction)."""
        if not finished:
            return
        with self.ledger.transaction() as entries:
            for request in finished:
                if request.job_id is None:
                    continue
                entry = entries.get(request.job_id)
                if entry is not None:
                    entry.drop_flight(request.run_id)

    def hold(self, request: RunRequest, now: float) -> None:
        """Record a retry in flight, as its first attempt was (one transaction)."""
        assert request.job_id is not None
        job = self.jobs.get(request.job_id)
        with self.ledger.transaction() as entries:
            entry = entry_for(entries, request.job_id, job.trigger.key if job else "manual")
            entry.add_flight(self.in_flight_for(request, now))

    def register_manual(self, request: RunRequest, now: float) -> InFlight | None:
        """Record a manual run in flight; returns the live holder instead if the job runs."""
        assert request.job_id is not None
        job = self.jobs.get(request.job_id)
        with self.ledger.transaction() as entries:
            key = job.trigger.key if job else "manual"
            entry = entry_for(entries, request.job_id, key)
            holder = self._busy_elsewhere(entry)
            if holder is not None:
                return holder
            entry.add_flight(self.in_flight_for(request, now))
        return None
