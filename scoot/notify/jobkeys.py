"""The notification keys of a `[[schedule.jobs]]` entry: notify, notify_on, ping_url,
expect_schema. Their shapes are checked here (pure); whether targets exist and
schemas load is checked against the instance by `bind_jobs`."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scoot.notify.events import DEFAULT_NOTIFY_ON, EVENTS
from scoot.notify.settings import NotifySettings, http_url_problem

JOB_KEYS = frozenset({"notify", "notify_on", "ping_url", "expect_schema"})


def _names(value: Any, key: str) -> tuple[tuple[str, ...] | None, str | None]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return None, f'{key} must be an array of names, like ["ops"], got {value!r}'
    return tuple(dict.fromkeys(value)), None


def notify_fields(entry: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The Job fields these keys give, or the reason the job is invalid."""
    fields: dict[str, Any] = {}
    if "notify" in entry:
        names, problem = _names(entry["notify"], "notify")
        if problem:
            return {}, problem
        fields["notify"] = names
    if "notify_on" in entry:
        events, problem = _names(entry["notify_on"], "notify_on")
        if problem or events is None:
            return {}, problem
        unknown = [e for e in events if e not in EVENTS]
        if unknown:
            return {}, f"notify_on: unknown event {unknown[0]!r} (known: {', '.join(EVENTS)})"
        fields["notify_on"] = events
    if "ping_url" in entry:
        problem = http_url_problem(entry["ping_url"], "ping_url")
        if problem is None and urlsplit(entry["ping_url"]).query:
            problem = "ping_url must not have a query string (scoot appends ?rid=<run_id>)"
        if problem:
            return {}, problem
        fields["ping_url"] = entry["ping_url"]
    if "expect_schema" in entry:
        value = entry["expect_schema"]
        if not isinstance(value, str) or not value:
            return {}, f"expect_schema must be a path to a JSON Schema file, got {value!r}"
        fields["expect_schema"] = value
    return fields, None


def bind_problem(job: Any, settings: NotifySettings) -> str | None:
    """Why a job's notify names cannot be served by the configured targets, or None."""
    for name in job.notify:
        if name not in settings.targets:
            known = ", ".join(sorted(settings.targets)) or "none"
            return f"notify: no target {name!r} (add [notify.{name}]; known: {known})"
    return None


def bind_jobs(jobset: Any, settings: NotifySettings, root: Path) -> Any:
    """The job set with unknown targets and unusable schemas moved to invalid."""
    from scoot.schedule.jobs import InvalidJob, JobSet

    jobs = []
    invalid = list(jobset.invalid)
    warnings = list(jobset.warnings)
    for job in jobset.jobs:
        problem = bind_problem(job, settings)
        schema = None
        if problem is None and job.expect_schema is not None:
            from scoot.notify.schema import load_schema

            schema, problem = load_schema(root, job.expect_schema)
        if problem:
            invalid.append(InvalidJob(job.index, job.id, problem))
            warnings.append(f"job {job.id!r} skipped: {problem}")
            continue
        jobs.append(job.with_options(result_schema=schema) if schema is not None else job)
    if len(jobs) == len(jobset.jobs) and all(
        a is b for a, b in zip(jobs, jobset.jobs, strict=True)
    ):
        return jobset
    return JobSet(tuple(jobs), tuple(invalid), tuple(warnings))


__all__ = ["DEFAULT_NOTIFY_ON", "JOB_KEYS", "bind_jobs", "notify_fields"]
