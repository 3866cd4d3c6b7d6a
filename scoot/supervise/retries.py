"""The next attempt of a failed scheduled run, when its job asks for one (scoot.schedule.retry)."""

from __future__ import annotations

from collections.abc import Callable

from scoot.records.recorder import Recorder
from scoot.schedule.retry import plan_retry
from scoot.schedule.scheduler import Scheduler
from scoot.supervise.releases import LedgerReleases
from scoot.supervise.requests import retry_of
from scoot.supervise.runner import Outcome, RunRequest


class Retries:
    """Queues nothing itself: says which retry follows an ending, once it is held and audited."""

    def __init__(
        self,
        scheduler: Scheduler | None,
        recorder: Recorder,
        releases: LedgerReleases,
        clock: Callable[[], float],
    ) -> None:
        self.scheduler = scheduler
        self.recorder = recorder
        self.releases = releases
        self.clock = clock

    def after(self, request: RunRequest, outcome: Outcome) -> RunRequest | None:
        if self.scheduler is None:
            return None
        return next_attempt(
            request,
            outcome,
            scheduler=self.scheduler,
            recorder=self.recorder,
            releases=self.releases,
            now=self.clock(),
        )


def next_attempt(
    request: RunRequest,
    outcome: Outcome,
    *,
    scheduler: Scheduler,
    recorder: Recorder,
    releases: LedgerReleases,
    now: float,
) -> RunRequest | None:
    """The retry to queue, held in the ledger and audited; None when there is none."""
    job = scheduler.jobs.get(request.job_id or "")
    if request.origin != "schedule" or job is None or not job.retries:
        return None
    retry = plan_retry(
        status=outcome.status,
        attempt=request.attempt,
        retries=job.retries,
        backoff_base_sec=job.retry_backoff_sec,
        ended_at=now,
        next_instant=scheduler.next_due_of(job.id),
    )
    if retry is None:
        return None
    again = retry_of(request, attempt=retry.attempt, start_at=retry.start_at, now=now)
    try:
        scheduler.hold(again, now)
    except OSError as exc:
        releases.failed(f"cannot write the ledger ({exc.strerror}); job {job.id} not retried")
        return None
    recorder.run_event(
        again,
        "job_retry",
        f"job {job.id} ended {outcome.status}; attempt {retry.attempt} of {job.retries + 1} "
        f"in {retry.delay_sec:g} s",
        attempt=retry.attempt,
        delay_sec=retry.delay_sec,
        instant=request.instant,
        previous_run_id=request.run_id,
    )
    return again
