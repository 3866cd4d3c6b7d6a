"""Run requests made whole: every field a launch needs is settled when the request is made.

The scheduler claims an occurrence (a Claim: which job, which instant, which
run id); the supervisor turns it, a manual trigger or a `-e` goal into a
frozen RunRequest here, with its working directory, limits, time limit,
backend and budget. Nothing later rewrites it; a retry is a new request.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from scoot.instance.config import Config
from scoot.instance.home import Home
from scoot.schedule.jobs import Job
from scoot.shared.spend.budget import limits_of
from scoot.shared.value_class import value_class
from scoot.supervise.runner import RunRequest
from scoot.supervise.spec import job_session_id, limits_for, new_run_id


@value_class
class Claim:
    """One occurrence the scheduler claimed in the ledger, before it is a request."""

    job: Job
    run_id: str
    instant: float
    jitter_ms: int  # the start waits this long after `instant` (scoot.schedule.jitter)
    claimed_at: float

    @property
    def job_id(self) -> str:
        return self.job.id


@value_class
class RequestMaker:
    """What a request takes from the instance where its job says nothing."""

    home: Home
    config: Config
    cwd: str  # where a `-e` goal runs: the caller's directory
    job_timeout_sec: float  # [schedule] job_timeout_sec, for jobs that set no timeout

    def for_claim(self, claim: Claim) -> RunRequest:
        return self.for_job(
            claim.job,
            origin="schedule",
            now=claim.claimed_at,
            run_id=claim.run_id,
            instant=claim.instant,
            jitter_ms=claim.jitter_ms,
        )

    def for_job(
        self,
        job: Job,
        *,
        origin: str,
        now: float,
        run_id: str | None = None,
        instant: float | None = None,
        jitter_ms: int = 0,
    ) -> RunRequest:
        """A run of a configured job: a claimed occurrence, or a manual trigger."""
        timeout = job.timeout_sec if job.timeout_sec is not None else self.job_timeout_sec
        return RunRequest(
            run_id=run_id or new_run_id(now),
            session_id=job_session_id(job.id),
            goal=job.goal,
            mode=job.mode.effective,
            origin=origin,
            # A job without cwd never inherits the daemon's (/ or $HOME): it gets its own.
            cwd=job.cwd or str(self.home.workspace(job.id)),
            own_workspace=not job.cwd,
            limits=MappingProxyType(limits_for(self.config, job)),
            timeout_sec=float(timeout),
            backend=job.backend,
            budget=limits_of(job, self.config.budget),
            queued_at=now,
            job_id=job.id,
            instant=instant,
            jitter_ms=jitter_ms,
            result_schema=job.result_schema,
        )

    def for_goal(
        self,
        goal: str,
        *,
        mode: str,
        origin: str,
        session_id: str,
        now: float,
        timeout_sec: float | None = None,
        job_id: str | None = None,
    ) -> RunRequest:
        """A goal that no configured job stands behind: `-e`, or a run a program submits.

        `-e` runs where it was called and only as long as it was told; any
        other origin gets a workspace of its own and the [schedule] time limit.
        """
        cli = origin == "cli"
        if timeout_sec is None and not cli:
            timeout_sec = self.job_timeout_sec
        return RunRequest(
            run_id=new_run_id(now),
            session_id=session_id,
            goal=goal,
            mode=mode,
            origin=origin,
            cwd=self.cwd if cli else str(self.home.workspace(job_id or "adhoc")),
            own_workspace=not cli,
            limits=MappingProxyType(limits_for(self.config, None)),
            timeout_sec=timeout_sec,
            backend="default",
            budget=limits_of(None, self.config.budget),
            queued_at=now,
            job_id=job_id,
        )


def retry_of(request: RunRequest, *, attempt: int, start_at: float, now: float) -> RunRequest:
    """The next attempt of a failed run: a new run of the same occurrence."""
    return replace(
        request,
        run_id=new_run_id(now),
        queued_at=now,
        attempt=attempt,
        not_before=start_at,
        jitter_ms=0,  # it waits for its backoff instead
    )
