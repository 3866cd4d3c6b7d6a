"""Scheduled jobs: validation of `[[schedule.jobs]]` entries into runnable jobs (pure).

One pass over the entries. The id, goal, trigger and mode come first; the
optional keys follow as a table of rules (scoot.schedule.job_fields). What
entries share is built once per pass, not once per job: a trigger per distinct
cron text, every_sec interval or at instant, a mode per requested mode.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from typing import Any

from scoot.instance.sections import MAX_WHOLE
from scoot.notify.jobkeys import JOB_KEYS as NOTIFY_KEYS
from scoot.notify.jobkeys import notify_fields
from scoot.schedule.cron import CronError
from scoot.schedule.job_fields import FIELD_RULES, RULE_KEYS, checked_fields
from scoot.schedule.job_model import DEFAULT_OPTIONS, Job, JobOptions
from scoot.schedule.triggers import Trigger
from scoot.schedule.zoned import ZoneError
from scoot.shared.fresh import fresh_copy
from scoot.shared.policy import ModeResolution, effective_unattended_mode
from scoot.shared.value_class import value_class

JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
TRIGGER_KEYS = ("every_sec", "at_unix", "cron")
KNOWN_KEYS = frozenset(
    {"id", "goal", *TRIGGER_KEYS, "mode", "timezone", "align", *RULE_KEYS, *NOTIFY_KEYS}
)
# Keeps every instant a job can produce a real UTC date; durations and limits
# share the config's bound (MAX_WHOLE) so they fit a timer or an rlimit.
MAX_AT_UNIX = 253402300799  # 9999-12-31 23:59:59 UTC


@value_class(slots=True)
class InvalidJob:
    """A job entry that will not run, and the rule it broke."""

    index: int
    id: str | None
    reason: str


@value_class
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


TriggerResult = tuple[Trigger | None, str | None]


class _Pass:
    """What one validation pass knows before it sees an entry, and what entries share."""

    def __init__(
        self,
        is_dir: Callable[[str], bool],
        default_timezone: str,
        default_jitter_sec: int,
        backends: frozenset[str] | None,
        fresh: bool = False,
    ) -> None:
        self.is_dir = is_dir
        self.fresh = fresh
        self.default_timezone = default_timezone
        self.backends = backends
        self.defaults: dict[str, Any] = {
            "catch_up": "skip",
            "jitter_sec": default_jitter_sec,
            "backend": "default",
        }
        # The defaults hold for every entry that sets none: check them once. A default
        # that breaks its rule is checked (and reported) with each entry instead.
        every = frozenset(self.defaults)
        self.base, problem = checked_fields({}, every, self.defaults, is_dir, backends)
        self.recheck: frozenset[str] = frozenset(self.defaults) if problem else frozenset()
        if problem:
            self.base = {}
        self._modes: dict[Any, ModeResolution] = {}
        self._triggers: dict[tuple[Any, ...], TriggerResult] = {}
        self._base_options: JobOptions | None = None
        self._options: dict[tuple[tuple[str, type, Any], ...], JobOptions] = {}
        self.strings: dict[str, str] = {}  # the texts of this pass's jobs, copied once each

    def options(self, fields: dict[str, Any]) -> JobOptions:
        """The options of a job with these fields: one object for all jobs that set the same."""
        if fields is self.base:
            if self._base_options is None:
                made = JobOptions(**fields)
                self._base_options = DEFAULT_OPTIONS if made == DEFAULT_OPTIONS else made
            return self._base_options
        try:
            # Each value with its type, as for triggers: 1 and 1.0 are equal keys.
            key = tuple((name, type(value), value) for name, value in fields.items())
            found = self._options.get(key)
        except TypeError:  # an unhashable value (limits, a schema): this job's own
            return JobOptions(**fields)
        if found is None:
            found = self._options[key] = JobOptions(**fields)
        return found

    def mode(self, requested: Any) -> ModeResolution:
        if requested is not None and not isinstance(requested, str):
            requested = repr(requested)
        found = self._modes.get(requested)
        if found is None:
            found = self._modes[requested] = effective_unattended_mode(requested)
        return found

    def trigger(self, entry: dict[str, Any]) -> TriggerResult:
        """The entry's trigger; a cron expression is parsed once per distinct text and zone."""
        if "cron" not in entry:
            return _trigger_of(entry, self.default_timezone)
        # Each value with its type: 1, 1.0 and true are equal keys but not equal values here.
        key = tuple((k, type(entry[k]), entry[k]) for k in _SHARED_BY if k in entry)
        try:
            found = self._triggers.get(key)
        except TypeError:  # an unhashable value (an array): nothing to share
            return _trigger_of(entry, self.default_timezone)
        if found is None:
            found = self._triggers[key] = _trigger_of(entry, self.default_timezone)
        return found


# What a cron job's trigger (or the reason it has none) depends on.
_SHARED_BY = (*TRIGGER_KEYS, "timezone", "align")


def _trigger_of(entry: dict[str, Any], default_timezone: str = "UTC") -> TriggerResult:
    present = [key for key in TRIGGER_KEYS if key in entry]
    if not present:
        return None, "no trigger: set exactly one of every_sec, at_unix, cron"
    if len(present) > 1:
        return None, f"several triggers ({', '.join(present)}): set exactly one"
    key = present[0]
    value = entry[key]
    if key == "every_sec":
        return _every_trigger(entry, value)
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


def _every_trigger(entry: dict[str, Any], value: Any) -> TriggerResult:
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
    run = _Pass(is_dir, default_timezone, default_jitter_sec, backends)
    return _validate(entry, index, run)


def _validate(
    entry: Any, index: int, run: _Pass
) -> tuple[Job | None, InvalidJob | None, list[str]]:
    warnings: list[str] = []
    if not isinstance(entry, dict):
        return None, InvalidJob(index, None, "a job must be a table"), warnings
    if run.fresh:  # a daemon's jobs: what they keep must not pin the parse
        entry = fresh_copy(entry, run.strings)
    raw_id = entry.get("id")
    problem = validate_job_id(raw_id)
    if problem or not isinstance(raw_id, str):
        shown_id = raw_id if isinstance(raw_id, str) else None
        return None, InvalidJob(index, shown_id, problem or "missing id"), warnings
    if not KNOWN_KEYS.issuperset(entry):
        known = ", ".join(sorted(KNOWN_KEYS))
        for key in sorted(set(entry) - KNOWN_KEYS):
            warnings.append(f"job {raw_id!r}: unknown key {key!r} ignored (known: {known})")
    goal = entry.get("goal")
    if not isinstance(goal, str) or not goal.strip():
        return None, InvalidJob(index, raw_id, "missing goal: set a non-empty goal"), warnings
    trigger, problem = run.trigger(entry)
    if problem or trigger is None:
        return None, InvalidJob(index, raw_id, problem or "no trigger"), warnings
    mode = run.mode(entry.get("mode"))
    if mode.warning and mode.effective != "unrestricted":
        # The explicit unrestricted opt-in is shown by `schedule list` and at each run instead.
        warnings.append(f"job {raw_id!r}: {mode.warning}")
    fields = run.base
    present = RULE_KEYS.intersection(entry)
    if present or run.recheck:
        checked, problem = checked_fields(
            entry, present | run.recheck, run.defaults, run.is_dir, run.backends
        )
        if problem:
            return None, InvalidJob(index, raw_id, problem), warnings
        fields = {**fields, **checked}
    if not NOTIFY_KEYS.isdisjoint(entry):
        notify, problem = notify_fields(entry)
        if problem:
            return None, InvalidJob(index, raw_id, problem), warnings
        fields = {**fields, **notify}
    job = Job(raw_id, goal.strip(), trigger, mode, index, run.options(fields))
    return job, None, warnings


def validate_jobs(
    raw_jobs: tuple[Any, ...] | list[Any],
    is_dir: Callable[[str], bool] = os.path.isdir,
    *,
    default_timezone: str = "UTC",
    default_jitter_sec: int = 0,
    backends: frozenset[str] | None = None,
    fresh: bool = False,
) -> JobSet:
    """Validate all entries; a later entry reusing an id is invalid, the first one stands.

    `fresh`: the jobs will outlive the parsed entries by far (a daemon's), so
    what they keep is copied out of them (scoot.shared.fresh); a command that
    prints and exits is spared the copying.
    """
    run = _Pass(is_dir, default_timezone, default_jitter_sec, backends, fresh)
    jobs: list[Job] = []
    invalid: list[InvalidJob] = []
    warnings: list[str] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(raw_jobs, start=1):
        job, bad, found = _validate(entry, index, run)
        if found:
            warnings.extend(found)
        if job is None:
            if bad is not None:
                invalid.append(bad)
            continue
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


__all__ = [
    "FIELD_RULES",
    "JOB_ID_PATTERN",
    "KNOWN_KEYS",
    "MAX_AT_UNIX",
    "InvalidJob",
    "Job",
    "JobSet",
    "validate_job",
    "validate_job_id",
    "validate_jobs",
]
