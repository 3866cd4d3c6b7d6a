"""Scheduled jobs: validation of `[[schedule.jobs]]` entries into runnable jobs (pure)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from scoot.instance.config import MAX_WHOLE
from scoot.notify.jobkeys import JOB_KEYS as NOTIFY_KEYS
from scoot.notify.jobkeys import notify_fields
from scoot.schedule.cron import CronError
from scoot.schedule.triggers import Trigger
from scoot.schedule.zoned import ZoneError
from scoot.shared.limits import LIMIT_KEYS
from scoot.shared.policy import ModeResolution, effective_unattended_mode

JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
SPEND_KEYS = ("backend", "max_tokens_per_run", "max_tokens_per_day", "retries", "retry_backoff_sec")
DEFAULT_RETRY_BACKOFF_SEC = 30
KNOWN_KEYS = frozenset(
    {
        "id",
        "goal",
        "every_sec",
        "at_unix",
        "cron",
        "mode",
        "timeout_sec",
        "catch_up",
        "max_late_sec",
        "cwd",
        "timezone",
        "jitter_sec",
        "pause_after_failures",
        "align",
        *LIMIT_KEYS,
        *SPEND_KEYS,
        *NOTIFY_KEYS,
    }
)
TRIGGER_KEYS = ("every_sec", "at_unix", "cron")
# Keeps every instant a job can produce a real UTC date; durations and limits
# share the config's bound (MAX_WHOLE) so they fit a timer or an rlimit.
MAX_AT_UNIX = 253402300799  # 9999-12-31 23:59:59 UTC


@dataclass(frozen=True)
class Job:
    """A valid job: what to run, when, and with which effective power."""

    id: str
    goal: str
    trigger: Trigger
    mode: ModeResolution
    index: int  # position in the config file, 1-based
    timeout_sec: int | None = None
    catch_up: Literal["skip", "once"] = "skip"
    max_late_sec: float | None = None
    cwd: str | None = None
    limits: dict[str, int] = field(default_factory=dict)
    jitter_sec: int = (
        0  # a deterministic delay in [0, jitter_sec] per instant (scoot.schedule.jitter)
    )
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


@dataclass(frozen=True)
class InvalidJob:
    """A job entry that will not run, and the rule it broke."""

    index: int
    id: str | None
    reason: str


@dataclass(frozen=True)
class JobSet:
    jobs: tuple[Job, ...]
    invalid: tuple[InvalidJob, ...]
    warnings: tuple[str, ...]

    def by_id(self) -> dict[str, Job]:
        return {job.id: job for job in self.jobs}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_job_id(value: Any) -> str | None:
    """The reason an id is unusable, or None. Ids name files, so the charset is strict."""
    if not isinstance(value, str) or not value:
        return "missing id (1 to 64 of A-Z a-z 0-9 . _ -)"
    if not JOB_ID_PATTERN.fullmatch(value) or value in (".", ".."):
        return f"invalid id {value!r}: use 1 to 64 of A-Z a-z 0-9 . _ -"
    return None


def _trigger_of(
    entry: dict[str, Any], default_timezone: str = "UTC"
) -> tuple[Trigger | None, str | None]:
    present = [key for key in TRIGGER_KEYS if key in entry]
    if not present:
        return None, "no trigger: set exactly one of every_sec, at_unix, cron"
    if len(present) > 1:
        return None, f"several triggers ({', '.join(present)}): set exactly one"
    key = present[0]
    value = entry[key]
    if key == "every_sec":
        if not _is_int(value):
            return None, f"every_sec must be a whole number of seconds >= 1, got {value!r}"
        if not 1 <= value <= MAX_WHOLE:
            return None, f"every_sec must be between 1 and {MAX_WHOLE}, got {value}"
        if "timezone" in entry:
            return None, "timezone applies to cron jobs only; every_sec is zone-free (remove it)"
        align = entry.get("align", "start")
        if align not in ("start", "epoch"):
            return None, f'align must be "start" or "epoch", got {align!r}'
        return Trigger.every(value, align), None
    if "align" in entry:
        return None, "align applies to every_sec jobs only (remove it)"
    if key == "at_unix":
        if not _is_number(value) or not math.isfinite(value):
            return None, f"at_unix must be a Unix time in seconds, got {value!r}"
        if not 0 <= value <= MAX_AT_UNIX:
            return None, f"at_unix must be between 0 and {MAX_AT_UNIX} (year 9999), got {value}"
        if "timezone" in entry:
            return None, "timezone applies to cron jobs only; at_unix is zone-free (remove it)"
        return Trigger.at(float(value)), None
    if not isinstance(value, str):
        return None, f'cron must be a string like "*/5 * * * *", got {value!r}'
    zone = entry.get("timezone", default_timezone)
    try:
        return Trigger.from_cron(value, zone), None
    except CronError as exc:
        # Most cron errors quote the expression already; say it once.
        shown = "" if f'"{value}"' in str(exc) else f" {value!r}"
        return None, f"invalid cron{shown}: {exc}"
    except ZoneError as exc:
        return None, str(exc)


def _spend_of(
    entry: dict[str, Any], backends: frozenset[str] | None
) -> tuple[dict[str, Any], str | None]:
    """The job's backend, budgets and retries, or the rule one of them breaks."""
    found: dict[str, Any] = {}
    backend = entry.get("backend", "default")
    if not isinstance(backend, str) or not backend:
        return found, f"backend must be the name of a backend, got {backend!r}"
    if backends is not None and backend not in backends:
        known = ", ".join(sorted(backends))
        return (
            found,
            f"backend {backend!r} is not configured (known: {known}); add [backends.{backend}]",
        )
    found["backend"] = backend
    for key, low in (
        ("max_tokens_per_run", 1),
        ("max_tokens_per_day", 1),
        ("retries", 0),
        ("retry_backoff_sec", 0),
    ):
        if key not in entry:
            continue
        value = entry[key]
        if not _is_int(value) or not low <= value <= MAX_WHOLE:
            return found, f"{key} must be a whole number from {low} to {MAX_WHOLE}, got {value!r}"
        found[key] = value
    return found, None


def validate_job(
    entry: Any,
    index: int,
    is_dir: Callable[[str], bool] = os.path.isdir,
    *,
    default_timezone: str = "UTC",
    default_jitter_sec: int = 0,
    backends: frozenset[str] | None = None,
) -> tuple[Job | None, InvalidJob | None, list[str]]:
    """Validate one raw entry; exactly one of the first two results is set.

    `is_dir` answers whether a job's `cwd` exists: a job that would fail at
    every run for want of its directory is inactive from the start.
    The defaults come from `[schedule] timezone` and `[schedule] jitter_sec`.
    """
    warnings: list[str] = []
    if not isinstance(entry, dict):
        return None, InvalidJob(index, None, "a job must be a table"), warnings
    raw_id = entry.get("id")
    shown_id = raw_id if isinstance(raw_id, str) else None
    problem = validate_job_id(raw_id)
    if problem:
        return None, InvalidJob(index, shown_id, problem), warnings
    for key in sorted(set(entry) - KNOWN_KEYS):
        warnings.append(
            f"job {raw_id!r}: unknown key {key!r} ignored (known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    goal = entry.get("goal")
    if not isinstance(goal, str) or not goal.strip():
        return None, InvalidJob(index, raw_id, "missing goal: set a non-empty goal"), warnings
    trigger, problem = _trigger_of(entry, default_timezone)
    if problem or trigger is None:
        return None, InvalidJob(index, raw_id, problem or "no trigger"), warnings
    requested = entry.get("mode")
    if requested is not None and not isinstance(requested, str):
        requested = repr(requested)
    mode = effective_unattended_mode(requested)
    if mode.warning and mode.effective != "unrestricted":
        # The explicit unrestricted opt-in is shown by `schedule list` and at each run instead.
        warnings.append(f"job {raw_id!r}: {mode.warning}")
    timeout = entry.get("timeout_sec")
    if timeout is not None and (not _is_int(timeout) or not 1 <= timeout <= MAX_WHOLE):
        return (
            None,
            InvalidJob(
                index,
                raw_id,
                f"timeout_sec must be a whole number from 1 to {MAX_WHOLE}, got {timeout!r}",
            ),
            warnings,
        )
    catch_up = entry.get("catch_up", "skip")
    if catch_up not in ("skip", "once"):
        return (
            None,
            InvalidJob(index, raw_id, f'catch_up must be "skip" or "once", got {catch_up!r}'),
            warnings,
        )
    max_late = entry.get("max_late_sec")
    if max_late is not None and (
        not _is_number(max_late) or not math.isfinite(max_late) or not 0 <= max_late <= MAX_WHOLE
    ):
        return (
            None,
            InvalidJob(
                index,
                raw_id,
                f"max_late_sec must be a number from 0 to {MAX_WHOLE}, got {max_late!r}",
            ),
            warnings,
        )
    cwd = entry.get("cwd")
    if cwd is not None and (not isinstance(cwd, str) or not cwd):
        return None, InvalidJob(index, raw_id, f"cwd must be a path, got {cwd!r}"), warnings
    if cwd is not None and not is_dir(cwd):
        return (
            None,
            InvalidJob(index, raw_id, f"cwd {cwd!r} is not a directory: create it or fix the path"),
            warnings,
        )
    limits: dict[str, int] = {}
    for key in LIMIT_KEYS:
        if key in entry:
            value = entry[key]
            if not _is_int(value) or not 0 <= value <= MAX_WHOLE:
                return (
                    None,
                    InvalidJob(
                        index,
                        raw_id,
                        f"{key} must be a whole number from 0 to {MAX_WHOLE}, got {value!r}",
                    ),
                    warnings,
                )
            limits[key] = value
    jitter = entry.get("jitter_sec", default_jitter_sec)
    if not _is_int(jitter) or not 0 <= jitter <= MAX_WHOLE:
        return (
            None,
            InvalidJob(
                index,
                raw_id,
                f"jitter_sec must be a whole number from 0 to {MAX_WHOLE}, got {jitter!r}",
            ),
            warnings,
        )
    pause_after = entry.get("pause_after_failures")
    if pause_after is not None and (not _is_int(pause_after) or not 1 <= pause_after <= MAX_WHOLE):
        return (
            None,
            InvalidJob(
                index,
                raw_id,
                f"pause_after_failures must be a whole number from 1 to {MAX_WHOLE}, "
                f"got {pause_after!r}",
            ),
            warnings,
        )
    spend, problem = _spend_of(entry, backends)
    if problem:
        return None, InvalidJob(index, raw_id, problem), warnings
    notify, problem = notify_fields(entry)
    if problem:
        return None, InvalidJob(index, raw_id, problem), warnings
    job = Job(
        id=raw_id,
        goal=goal.strip(),
        trigger=trigger,
        mode=mode,
        index=index,
        timeout_sec=timeout,
        catch_up=catch_up,
        max_late_sec=float(max_late) if max_late is not None else None,
        cwd=cwd,
        limits=limits,
        jitter_sec=jitter,
        pause_after_failures=pause_after,
        **spend,
        **notify,
    )
    return job, None, warnings


def validate_jobs(
    raw_jobs: tuple[Any, ...] | list[Any],
    is_dir: Callable[[str], bool] = os.path.isdir,
    *,
    default_timezone: str = "UTC",
    default_jitter_sec: int = 0,
    backends: frozenset[str] | None = None,
) -> JobSet:
    """Validate all entries; a later entry reusing an id is invalid, the first one stands."""
    jobs: list[Job] = []
    invalid: list[InvalidJob] = []
    warnings: list[str] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(raw_jobs, start=1):
        job, bad, found = validate_job(
            entry,
            index,
            is_dir,
            default_timezone=default_timezone,
            default_jitter_sec=default_jitter_sec,
            backends=backends,
        )
        warnings.extend(found)
        if bad is not None:
            invalid.append(bad)
            continue
        assert job is not None
        if job.id in first_index:
            invalid.append(
                InvalidJob(
                    index,
                    job.id,
                    f"duplicate id {job.id!r} (first used by job #{first_index[job.id]}); "
                    "ids must be unique",
                )
            )
            continue
        first_index[job.id] = index
        jobs.append(job)
    for bad in invalid:
        name = repr(bad.id) if bad.id else f"#{bad.index}"
        warnings.append(f"job {name} skipped: {bad.reason}")
    return JobSet(tuple(jobs), tuple(invalid), tuple(warnings))
