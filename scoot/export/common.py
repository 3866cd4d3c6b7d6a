"""What both export formats share: errors, results, refusals and the timing checks of a job."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from scoot.errors import UsageError
from scoot.schedule.civil import civil_from_days
from scoot.schedule.cron_search import next_after
from scoot.schedule.jobs import Job
from scoot.schedule.triggers import next_fire
from scoot.schedule.zoned import load_zone, transitions_between
from scoot.shared.value_class import value_class

ExportFormat = Literal["systemd", "kubernetes"]


UnitScope = Literal["system", "user"]


MAX_CALENDAR_LINES = 12


# Start-up of `scoot schedule trigger` (and of a pod) on top of timeout + kill grace.
BACKSTOP_MARGIN_SEC = 30


_WEEK_SEC = 7 * 86_400


_DAY_SEC = 86_400


ZONE_HORIZON_YEARS = 10


# The shortest gap between instants is looked for among this many upcoming ones.
_GAP_SAMPLE = 1000  # systemd calendar events end with this year


_SAFE_PATH = re.compile(r"/[A-Za-z0-9/._+-]*")


class ExportError(UsageError):
    """Arguments an export cannot use (an unknown format, a path units cannot carry)."""


@dataclass
class ExportResult:
    """The files to write (name -> text) and the jobs left out, with why."""

    files: dict[str, str] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)


class Refused(Exception):
    """A job the target cannot fire exactly; the message says why and what to do instead."""


@value_class
class _Timing:
    default_timeout_sec: int
    kill_grace_sec: int
    shutdown_grace_sec: int

    def timeout_of(self, job: Job) -> int:
        return job.timeout_sec or self.default_timeout_sec

    def backstop_sec(self, job: Job) -> int:
        return self.timeout_of(job) + self.kill_grace_sec + BACKSTOP_MARGIN_SEC

    def stop_sec(self) -> int:
        # scoot's own drain on SIGTERM (grace, then kill grace), plus time to record it.
        return self.shutdown_grace_sec + self.kill_grace_sec + BACKSTOP_MARGIN_SEC // 2


def _check_zone(job: Job, now: float) -> None:
    """Refuse a zoned cron job when one of its wall times meets a DST change (see above)."""
    trigger = job.trigger
    if trigger.kind != "cron" or trigger.timezone is None:
        return
    assert trigger.cron is not None
    expr, zone = trigger.cron, load_zone(trigger.timezone)
    horizon = now + ZONE_HORIZON_YEARS * 366 * _DAY_SEC
    for instant, before, after in transitions_between(zone, now, horizon):
        low, high = sorted(
            (instant + before, instant + after)
        )  # the wall times skipped or repeated
        if next_after(expr, low - 1) < high:
            what = "does not exist" if after > before else "occurs twice"
            day = civil_from_days(int(low) // _DAY_SEC)
            raise Refused(
                f'cron "{expr.source}" in {trigger.timezone} has a time that {what} on '
                f"{day[0]:04d}-{day[1]:02d}-{day[2]:02d} (a daylight-saving change), where the "
                "target's rules differ from scoot's; keep this job on the scoot daemon or "
                "move its times out of the change"
            )


def _min_gap(job: Job, now: float) -> float | None:
    """The shortest gap between the job's upcoming instants (None: at most one instant)."""
    trigger = job.trigger
    if trigger.kind == "every":
        return float(trigger.every_sec or 0)
    shortest: float | None = None
    previous = next_fire(trigger, now)
    for _ in range(_GAP_SAMPLE):
        if previous is None:
            break
        following = next_fire(trigger, previous)
        if following is None:
            break
        gap = following - previous
        shortest = gap if shortest is None else min(shortest, gap)
        previous = following
    return shortest


def _check_path(what: str, path: str) -> None:
    if not _SAFE_PATH.fullmatch(path) or ".." in path.split("/"):
        raise ExportError(
            f"{what} {path!r} must be an absolute path without '..', of letters, digits "
            "and / . _ + - (unit files cannot carry other characters unquoted)"
        )


def _is_within(path: str, root: str) -> bool:
    normal = str(Path(path))
    return normal == root or normal.startswith(root + "/")


def _trigger_argv(scoot_bin: str, job_id: str) -> list[str]:
    # An id may start with "-"; "--" keeps it from being read as an option.
    separator = ["--"] if job_id.startswith("-") else []
    return [scoot_bin, "schedule", "trigger", *separator, job_id]


def _arithmetic_step(values: tuple[int, ...]) -> int | None:
    """The common difference when values are an arithmetic progression of 3 or more."""
    if len(values) < 3:
        return None
    step = values[1] - values[0]
    if all(b - a == step for a, b in zip(values, values[1:], strict=False)):
        return step
    return None


def _runs(values: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted values as (first, last) pairs."""
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs
