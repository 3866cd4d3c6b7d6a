"""A valid job, and the optional settings it shares with jobs that set the same.

Ten thousand jobs are ten thousand of these for a daemon's whole life. The
seventeen optional settings live in a `JobOptions` that every job setting the
same ones shares (most jobs set none), so a job is six slots, not twenty-two:
80 bytes where it took 208 (docs/performance.md). A job reads like one object:
each option is a property of the job as well.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Any, Literal

from scoot.schedule.triggers import Trigger
from scoot.shared.policy import ModeResolution
from scoot.shared.value_class import value_class

DEFAULT_RETRY_BACKOFF_SEC = 30
NO_LIMITS: Mapping[str, int] = MappingProxyType({})


@value_class(slots=True)
class JobOptions:
    """A job's optional settings, each at its default unless the job (or [schedule]) set it."""

    timeout_sec: int | None = None
    catch_up: Literal["skip", "once"] = "skip"
    max_late_sec: float | None = None
    cwd: str | None = None
    limits: Mapping[str, int] = field(default_factory=lambda: NO_LIMITS)  # one shared when none
    # A deterministic delay in [0, jitter_sec] per instant (scoot.schedule.jitter).
    jitter_sec: int = 0
    pause_after_failures: int | None = None  # pause after this many failures in a row
    backend: str = "default"  # a [backends.NAME], or [backend]
    max_tokens_per_run: int | None = None
    max_tokens_per_day: int | None = None  # rolling 24 hours
    retries: int = 0  # re-runs of a failed run (error, timeout, crashed)
    retry_backoff_sec: int = DEFAULT_RETRY_BACKOFF_SEC  # doubled each attempt
    # Notifications, pings and result checks (scoot.notify).
    notify: tuple[str, ...] = ()  # target names
    notify_on: tuple[str, ...] | None = None  # None: failure and recovery
    ping_url: str | None = None
    expect_schema: str | None = None  # a path, relative to the runtime directory
    result_schema: Any = None  # the loaded schema (scoot.notify.jobkeys.bind_jobs)


DEFAULT_OPTIONS = JobOptions()


@value_class(slots=True)
class Job:
    """A valid job: what to run, when, and with which effective power."""

    id: str
    goal: str
    trigger: Trigger
    mode: ModeResolution
    index: int  # position in the config file, 1-based
    options: JobOptions = DEFAULT_OPTIONS

    def with_options(self, **changes: Any) -> Job:
        """This job with some options changed (its own options object, others' untouched)."""
        return dataclasses.replace(self, options=dataclasses.replace(self.options, **changes))

    @property
    def timeout_sec(self) -> int | None:
        return self.options.timeout_sec

    @property
    def catch_up(self) -> Literal["skip", "once"]:
        return self.options.catch_up

    @property
    def max_late_sec(self) -> float | None:
        return self.options.max_late_sec

    @property
    def cwd(self) -> str | None:
        return self.options.cwd

    @property
    def limits(self) -> Mapping[str, int]:
        return self.options.limits

    @property
    def jitter_sec(self) -> int:
        return self.options.jitter_sec

    @property
    def pause_after_failures(self) -> int | None:
        return self.options.pause_after_failures

    @property
    def backend(self) -> str:
        return self.options.backend

    @property
    def max_tokens_per_run(self) -> int | None:
        return self.options.max_tokens_per_run

    @property
    def max_tokens_per_day(self) -> int | None:
        return self.options.max_tokens_per_day

    @property
    def retries(self) -> int:
        return self.options.retries

    @property
    def retry_backoff_sec(self) -> int:
        return self.options.retry_backoff_sec

    @property
    def notify(self) -> tuple[str, ...]:
        return self.options.notify

    @property
    def notify_on(self) -> tuple[str, ...] | None:
        return self.options.notify_on

    @property
    def ping_url(self) -> str | None:
        return self.options.ping_url

    @property
    def expect_schema(self) -> str | None:
        return self.options.expect_schema

    @property
    def result_schema(self) -> Any:
        return self.options.result_schema


__all__ = ["DEFAULT_OPTIONS", "DEFAULT_RETRY_BACKOFF_SEC", "NO_LIMITS", "Job", "JobOptions"]
