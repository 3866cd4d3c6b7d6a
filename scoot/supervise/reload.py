"""What a SIGHUP reload can apply to a running loop, and what waits for a restart."""

from __future__ import annotations

import dataclasses
from typing import Any

from scoot.instance.config import Config
from scoot.records.recorder import Recorder
from scoot.records.runlog import RunLog
from scoot.schedule.jobs import Job
from scoot.schedule.scheduler import Scheduler
from scoot.shared.value_class import value_class

# [schedule] keys the loop reads at each use: a reload applies them at once.
LIVE_SCHEDULE_KEYS = (
    "poll_ms",
    "max_concurrent",
    "job_timeout_sec",
    "shutdown_grace_sec",
    "kill_grace_sec",
)
# Read once at start: the audit writer, the metrics endpoint and files, whether the
# scheduler runs at all, and where each backend's token came from (held in memory).
RESTART_SECTIONS = ("audit", "metrics")
RESTART_KEYS = ("schedule.enabled",)
TOKEN_SOURCE_KEYS = ("api_key_env", "api_key_file", "api_key_cmd")


@value_class
class ConfigChanges:
    applied: tuple[str, ...]  # dotted keys now in effect
    restart_needed: tuple[str, ...]  # dotted keys that take effect at the next start


def _section_changes(name: str, old: Any, new: Any) -> list[str]:
    if old == new:
        return []
    if not dataclasses.is_dataclass(old):
        return [name]
    return [
        f"{name}.{f.name}"
        for f in dataclasses.fields(old)
        if getattr(old, f.name) != getattr(new, f.name)
    ]


def changed_keys(old: Config, new: Config) -> list[str]:
    """Every dotted key whose value differs; jobs are counted elsewhere."""
    keys: list[str] = []
    for f in dataclasses.fields(Config):
        if f.name == "backends":
            for backend in sorted(old.backends.keys() | new.backends.keys()):
                before, after = old.backends.get(backend), new.backends.get(backend)
                if before is None or after is None:
                    keys.append(f"backends.{backend}")
                else:
                    keys += _section_changes(f"backends.{backend}", before, after)
            continue
        keys += _section_changes(f.name, getattr(old, f.name), getattr(new, f.name))
    return [key for key in keys if key != "schedule.jobs"]


def _needs_restart(key: str) -> bool:
    section, _, rest = key.partition(".")
    if section in RESTART_SECTIONS or key in RESTART_KEYS:
        return True
    return section in ("backend", "backends") and key.rsplit(".", 1)[-1] in TOKEN_SOURCE_KEYS


def classify(old: Config, new: Config) -> ConfigChanges:
    keys = changed_keys(old, new)
    restart = tuple(key for key in keys if _needs_restart(key))
    return ConfigChanges(tuple(k for k in keys if k not in restart), restart)


def live_schedule(new: Config) -> dict[str, Any]:
    """The Settings fields a reload replaces, from the new [schedule]."""
    return {key: getattr(new.schedule, key) for key in LIVE_SCHEDULE_KEYS}


@value_class
class JobChanges:
    total: int
    added: int
    removed: int
    changed: int

    def text(self) -> str:
        return (
            f"{self.total} jobs ({self.added} added, {self.removed} removed, "
            f"{self.changed} changed)"
        )


def replace_jobs(scheduler: Scheduler, jobs: tuple[Job, ...], now: float) -> JobChanges:
    """Swap the scheduler's jobs for the reloaded ones; an unchanged job keeps its place."""
    new = {job.id: job for job in jobs}
    old = dict(scheduler.jobs)
    for job_id in old.keys() - new.keys():
        scheduler.remove(job_id)
    for job_id, job in new.items():
        if old.get(job_id) != job:
            scheduler.remove(job_id)
            scheduler.add(job, now)
    return JobChanges(
        total=len(new),
        added=len(new.keys() - old.keys()),
        removed=len(old.keys() - new.keys()),
        changed=sum(1 for k in new.keys() & old.keys() if new[k] != old[k]),
    )


def announce(recorder: Recorder, runlog: RunLog, jobs: JobChanges, changes: ConfigChanges) -> None:
    """The config_reload audit event, the stderr line, and what waits for a restart."""
    recorder.event(
        "config_reload",
        f"configuration reloaded: {jobs.text()}",
        applied=list(changes.applied),
        restart_needed=list(changes.restart_needed),
    )
    runlog.err(f"[scoot] reloaded: {jobs.text()}")
    if changes.restart_needed:
        runlog.warn(
            "these changes take effect only after a restart: " + ", ".join(changes.restart_needed)
        )
