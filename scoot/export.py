"""Configured jobs as native units of another scheduler: systemd timers or Kubernetes CronJobs.

`export_jobs` is pure: jobs, paths and the current time in, file texts and
refusals out. A trigger is exported only when the target can fire it at
exactly the instants scoot would; anything else is refused with a reason,
never approximated. `write_export` is the thin shell that writes the files.

Decisions, and why:

- Every exported run is `scoot schedule trigger <id>`: the target decides
  when, scoot still applies the job's mode, sandbox, timeout and audit.
- every_sec: the instants are the multiples of the interval since the Unix
  epoch (every 300 s runs at :00, :05, ...), so the grid needs no start time.
  systemd: exact when the interval divides a day (or is one week), written as
  at most MAX_CALENDAR_LINES `OnCalendar=` patterns (several lines OR together).
  Kubernetes: one cron schedule, so whole minutes dividing an hour, whole
  hours dividing a day, or one week.
- cron: systemd gets a translation of the parsed fields; the Vixie rule (day
  of month OR day of week when both are restricted) becomes two `OnCalendar=`
  lines. Kubernetes gets the fields re-rendered so that its parser's own day
  rule gives the same days; the one case it cannot say (a stepped `*/N` day
  field ANDed with a restricted other day field) is refused.
- at_unix: systemd fires a one-time calendar event once; an instant already
  past is refused (run it with `scoot schedule trigger`). A CronJob cannot
  fire once: refused, with a Job suggested instead.
- Missed instants: systemd's `Persistent=true` runs a missed instant once at
  boot however late, which is scoot's catch_up = "once" for cron, and what
  every_sec always does (its latest instant is never more than one interval
  late). cron with catch_up = "skip" gets `Persistent=false`. systemd cannot
  bound lateness, so an explicit max_late_sec that matters is refused.
  Kubernetes bounds lateness with `startingDeadlineSeconds`: exactly the grace.
- Deadlines: `TimeoutStartSec=` and `activeDeadlineSeconds` are backstops set
  above the job's timeout plus kill grace, so scoot ends an overlong run itself
  and records it as `timeout` rather than being killed mid-record.
- Time zones: a cron job's zone becomes the zone of its `OnCalendar=` lines
  and the CronJob's `timeZone`. Neither systemd nor the CronJob controller
  applies cronie's daylight-saving rules (systemd skips a wall time that does
  not exist and fires a repeated one once; the CronJob controller has rules
  of its own), so a zoned job is exported only when none of its wall times
  falls into a gap or a repeat of its zone over the next ZONE_HORIZON_YEARS
  years; otherwise it is refused, naming the first such change.
- Jitter: systemd's `RandomizedDelaySec=` with `FixedRandomDelay=yes` is a
  delay of its own (a hash of the machine and unit), fixed per timer rather
  than per instant, so it cannot equal scoot's. What agrees is the bound: both
  start each run within [0, jitter_sec] after its instant and never after the
  next instant, so a job whose jitter_sec reaches its shortest gap is refused.
  A CronJob has no start delay: jitter is refused there.
- Paused jobs: a CronJob gets `suspend: true` (resume it with kubectl, or
  export again after `scoot schedule resume`); a systemd timer has no such
  switch, so a paused job is refused rather than exported to run.
- YAML is written by hand in block style with every string JSON-quoted, so it
  needs no YAML library and any string is safe in it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from scoot.errors import ScootError, UsageError
from scoot.records.files import atomic_write_bytes
from scoot.schedule.civil import civil_from_days
from scoot.schedule.cron import CronExpr
from scoot.schedule.cron_search import next_after
from scoot.schedule.jobs import Job
from scoot.schedule.triggers import describe, next_fire
from scoot.schedule.zoned import load_zone, transitions_between

__all__ = [
    "BACKSTOP_MARGIN_SEC",
    "KUBERNETES_DATA_MOUNT",
    "KUBERNETES_HOME",
    "KUBERNETES_UID",
    "MAX_CALENDAR_LINES",
    "SYSTEM_HARDENING",
    "USER_HARDENING",
    "ExportError",
    "ExportResult",
    "Refused",
    "at_calendar",
    "cron_calendars",
    "every_calendars",
    "export_jobs",
    "kubernetes_cron",
    "kubernetes_name",
    "kubernetes_schedule",
    "refusal_lines",
    "to_yaml",
    "write_export",
]

ExportFormat = Literal["systemd", "kubernetes"]
UnitScope = Literal["system", "user"]

# Hardening shared with deploy/systemd/*.service (a test keeps them identical).
SYSTEM_HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "PrivateTmp=yes",
    "ProtectHome=read-only",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "MemoryMax=2G",
    "CPUQuota=200%",
    "TasksMax=512",
)
# A user manager cannot set up namespaces without unprivileged user namespaces.
USER_HARDENING = (
    "NoNewPrivileges=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "MemoryMax=2G",
    "CPUQuota=200%",
    "TasksMax=512",
)

MAX_CALENDAR_LINES = 12
# Start-up of `scoot schedule trigger` (and of a pod) on top of timeout + kill grace.
BACKSTOP_MARGIN_SEC = 30
SYSTEM_USER = "scoot"
KUBERNETES_DATA_MOUNT = "/var/lib/scoot"
# A directory below the volume, so scoot creates it 0700 itself.
KUBERNETES_HOME = "/var/lib/scoot/home"
KUBERNETES_UID = 10001
KUBERNETES_CLAIM = "scoot-data"
KUBERNETES_SECRET = "scoot-backend"
KUBERNETES_SECRET_KEY = "api-key"
# The CronJob controller looks about every 10 s; a shorter deadline may never start a run.
KUBERNETES_MIN_DEADLINE_SEC = 10
KUBERNETES_MAX_NAME = 52  # a CronJob's Job names append 11 characters to its name
_WEEK_SEC = 7 * 86_400
_DAY_SEC = 86_400
_LAST_SYSTEMD_YEAR = 2199
ZONE_HORIZON_YEARS = 10
# The shortest gap between instants is looked for among this many upcoming ones.
_GAP_SAMPLE = 1000  # systemd calendar events end with this year
_SAFE_PATH = re.compile(r"/[A-Za-z0-9/._+-]*")
_PLAIN_YAML_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")
# systemd numbers weekdays from Monday; cron from Sunday.
_SYSTEMD_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class ExportError(UsageError):
    """Arguments an export cannot use (an unknown format, a path units cannot carry)."""


@dataclass
class ExportResult:
    """The files to write (name -> text) and the jobs left out, with why."""

    files: dict[str, str] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)


class Refused(Exception):
    """A job the target cannot fire exactly; the message says why and what to do instead."""


def export_jobs(
    jobs: tuple[Job, ...],
    *,
    fmt: ExportFormat,
    home_path: str,
    now: float,
    default_timeout_sec: int,
    scoot_bin: str = "/usr/local/bin/scoot",
    image: str = "scoot:latest",
    kill_grace_sec: int = 5,
    shutdown_grace_sec: int = 10,
    api_key_env: str = "OPENAI_API_KEY",
    scope: UnitScope = "system",
    paused: frozenset[str] | set[str] = frozenset(),
) -> ExportResult:
    """Units for `jobs` in format `fmt`; raises ExportError for unusable arguments.

    `home_path` is SCOOT_HOME where the units run (for Kubernetes, inside the
    container, at or below KUBERNETES_DATA_MOUNT). `now` decides whether a
    one-time instant is already past. `scope` picks system or user systemd units.
    `paused` names the jobs paused now.
    """
    if fmt not in ("systemd", "kubernetes"):
        raise ExportError(f'unknown export format "{fmt}"; use systemd or kubernetes')
    if scope not in ("system", "user"):
        raise ExportError(f'unknown unit scope "{scope}"; use system or user')
    _check_path("home path", home_path)
    _check_path("scoot executable", scoot_bin)
    if fmt == "kubernetes" and not _is_within(home_path, KUBERNETES_DATA_MOUNT):
        raise ExportError(
            f"home path {home_path} is outside the volume mounted at {KUBERNETES_DATA_MOUNT}; "
            f"use {KUBERNETES_HOME}"
        )
    if not image.strip():
        raise ExportError("container image is empty; name one, e.g. scoot:latest")
    timing = _Timing(default_timeout_sec, kill_grace_sec, shutdown_grace_sec)
    result = ExportResult()
    for job in jobs:
        try:
            _check_zone(job, now)
            if fmt == "systemd":
                if job.id in paused:
                    raise Refused(
                        "the job is paused and a systemd timer has no paused state; "
                        f"export it after `scoot schedule resume {job.id}`"
                    )
                files = _systemd_units(job, home_path, scoot_bin, timing, now, scope)
            else:
                files = _kubernetes_units(
                    job, home_path, scoot_bin, image, timing, api_key_env, job.id in paused
                )
        except Refused as refusal:
            result.refused.append((job.id, str(refusal)))
            continue
        result.files.update(files)
    return result


def refusal_lines(result: ExportResult) -> list[str]:
    """One line per job left out, naming it and the reason."""
    return [f"scoot: job {job_id} not exported: {reason}" for job_id, reason in result.refused]


def write_export(result: ExportResult, out_dir: Path | None) -> list[str]:
    """Write each file atomically into `out_dir`; without one, return the files as text.

    Returns the lines to print: `wrote <path>` per file, or every file's text
    under a `# --- <filename>` header (YAML documents also start with `---`). Raises ScootError when a file cannot be written.
    """
    if out_dir is None:
        lines: list[str] = []
        for name, text in result.files.items():
            if name.endswith(".yaml"):
                lines.append("---")  # one YAML document per CronJob, for `kubectl apply -f -`
            lines.append(f"# --- {name}")
            lines.extend(text.splitlines())
        return lines
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScootError(
            f"cannot create {out_dir}: {exc.strerror}; choose another --out directory"
        ) from None
    written: list[str] = []
    for name, text in result.files.items():
        path = out_dir / name
        try:
            atomic_write_bytes(path, text.encode(), mode=0o644)
        except OSError as exc:
            raise ScootError(
                f"cannot write {path}: {exc.strerror}; choose another --out directory"
            ) from None
        written.append(f"wrote {path}")
    return written


# --- shared ----------------------------------------------------------------------------


@dataclass(frozen=True)
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


# --- systemd ---------------------------------------------------------------------------


def _systemd_units(
    job: Job, home_path: str, scoot_bin: str, timing: _Timing, now: float, scope: UnitScope
) -> dict[str, str]:
    calendars, persistent, note = _systemd_schedule(job, now)
    delay: list[str] = []
    if job.jitter_sec:
        gap = _min_gap(job, now)
        if gap is not None and job.jitter_sec >= gap:
            raise Refused(
                f"jitter_sec={job.jitter_sec} reaches the {gap:g} s between two instants; "
                "systemd's delay could then start a run after the next instant is due "
                "(use a jitter_sec below the shortest gap)"
            )
        delay = [f"RandomizedDelaySec={job.jitter_sec}s", "FixedRandomDelay=yes"]
    unit = f"scoot-job-{job.id}"
    install = "/etc/systemd/system" if scope == "system" else "~/.config/systemd/user"
    systemctl = "systemctl" if scope == "system" else "systemctl --user"
    header = [
        f"# scoot job {job.id}: {describe(job.trigger)}.",
        f"# Written by `scoot schedule export --format systemd`; {note}",
        f"# Install both files into {install}, then: {systemctl} enable --now {unit}.timer",
    ]
    service = [
        *header,
        "",
        "[Unit]",
        f"Description=scoot job {job.id}",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        "ExecStart=" + " ".join(_trigger_argv(scoot_bin, job.id)),
        f"Environment=SCOOT_HOME={home_path}",
        f"TimeoutStartSec={timing.backstop_sec(job)}s",
        "KillMode=mixed",
        f"TimeoutStopSec={timing.stop_sec()}s",
        "UMask=0077",
    ]
    if scope == "system":
        service += [
            f"User={SYSTEM_USER}",
            f"Group={SYSTEM_USER}",
            f"ReadWritePaths={home_path}",
            *SYSTEM_HARDENING,
        ]
    else:
        service += list(USER_HARDENING)
    timer = [
        *header,
        "",
        "[Unit]",
        f"Description=Timer of scoot job {job.id}",
        "",
        "[Timer]",
        *(f"OnCalendar={calendar}" for calendar in calendars),
        "AccuracySec=1s",
        *delay,
        f"Persistent={'true' if persistent else 'false'}",
        f"Unit={unit}.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
    ]
    return {f"{unit}.service": "\n".join(service) + "\n", f"{unit}.timer": "\n".join(timer) + "\n"}


def _systemd_schedule(job: Job, now: float) -> tuple[list[str], bool, str]:
    """(OnCalendar= values, Persistent=, a note for the header); raises Refused."""
    trigger = job.trigger
    late = job.max_late_sec
    if trigger.kind == "every":
        interval = trigger.every_sec
        assert interval is not None
        if late is not None and late < interval:
            raise Refused(
                f"max_late_sec={late:g} is below the interval; a systemd timer cannot bound "
                "how late a missed instant runs (remove max_late_sec to export it)"
            )
        calendars = every_calendars(interval)
        return (
            calendars,
            True,
            f"instants are multiples of {interval} s since the Unix epoch; a missed one runs once.",
        )
    if late is not None:
        raise Refused(
            f"max_late_sec={late:g} cannot be expressed: a systemd timer runs a missed instant "
            "at boot however late (Persistent=true) or never (remove max_late_sec to export it)"
        )
    if trigger.kind == "at":
        assert trigger.at_unix is not None
        return [at_calendar(trigger.at_unix, now)], True, "fires once; if missed, once at boot."
    assert trigger.cron is not None
    persistent = job.catch_up == "once"
    note = (
        "a missed instant runs once at boot (catch_up once)."
        if persistent
        else "a missed instant is skipped (catch_up skip)."
    )
    return cron_calendars(trigger.cron, trigger.timezone or "UTC"), persistent, note


def every_calendars(interval: int) -> list[str]:
    """`OnCalendar=` values firing at every multiple of `interval` s since the epoch (UTC)."""
    if interval == _WEEK_SEC:
        return ["Thu *-*-* 00:00:00 UTC"]  # 1970-01-01, the epoch, was a Thursday
    if _DAY_SEC % interval:
        raise Refused(
            f"every_sec={interval} does not divide a day (86400 s) evenly, so no calendar "
            "repeats it exactly; use a divisor of 86400 (such as 60, 300, 900 or 3600) or 604800"
        )
    # Group the instants of one day into products of hour x minute x second sets.
    seconds_by_minute: dict[tuple[int, int], set[int]] = defaultdict(set)
    for instant in range(0, _DAY_SEC, interval):
        hour, rest = divmod(instant, 3600)
        minute, second = divmod(rest, 60)
        seconds_by_minute[(hour, minute)].add(second)
    minutes_by_hour: dict[int, dict[frozenset[int], set[int]]] = defaultdict(
        lambda: defaultdict(set)
    )
    for (hour, minute), seconds in seconds_by_minute.items():
        minutes_by_hour[hour][frozenset(seconds)].add(minute)
    hours_by_pattern: dict[frozenset[tuple[frozenset[int], frozenset[int]]], set[int]] = (
        defaultdict(set)
    )
    for hour, patterns in minutes_by_hour.items():
        shape = frozenset((seconds, frozenset(minutes)) for seconds, minutes in patterns.items())
        hours_by_pattern[shape].add(hour)
    lines: list[tuple[int, int, int, str]] = []
    for shape, hours in hours_by_pattern.items():
        for seconds, minutes in shape:
            first = (min(hours), min(minutes), min(seconds))
            text = (
                f"*-*-* {_systemd_values(sorted(hours), 0, 23)}:"
                f"{_systemd_values(sorted(minutes), 0, 59)}:"
                f"{_systemd_values(sorted(seconds), 0, 59)} UTC"
            )
            lines.append((*first, text))
    if len(lines) > MAX_CALENDAR_LINES:
        raise Refused(
            f"every_sec={interval} would need {len(lines)} OnCalendar= patterns "
            f"(at most {MAX_CALENDAR_LINES}); use an interval such as 60, 300, 900 or 3600"
        )
    return [text for *_, text in sorted(lines)]


def at_calendar(at_unix: float, now: float) -> str:
    """The one-time `OnCalendar=` value of an instant; raises Refused when it cannot fire."""
    if at_unix <= now:
        raise Refused(
            "at_unix is already past, so a timer would never fire it; run it now with "
            "`scoot schedule trigger <id>` if it has not run"
        )
    whole = math.floor(at_unix)
    micros = round((at_unix - whole) * 1e6)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    day, second_of_day = divmod(whole, _DAY_SEC)
    year, month, mday = civil_from_days(day)
    if year > _LAST_SYSTEMD_YEAR:
        raise Refused(f"at_unix falls in {year}; systemd calendar events end in 2199")
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    fraction = f".{micros:06d}" if micros else ""
    return f"{year:04d}-{month:02d}-{mday:02d} {hour:02d}:{minute:02d}:{second:02d}{fraction} UTC"


def cron_calendars(expr: CronExpr, zone: str = "UTC") -> list[str]:
    """`OnCalendar=` values matching exactly the minutes `expr` matches in `zone`.

    One systemd calendar event ANDs its weekday and day fields, so the Vixie OR
    (both day fields restricted) becomes two events, one per day field.
    """
    hours = _systemd_values(expr.hours, 0, 23)
    minutes = _systemd_values(expr.minutes, 0, 59)
    months = _systemd_values(expr.months, 1, 12)
    days = _systemd_values(expr.days, 1, 31)
    weekdays = _systemd_weekdays(expr.weekdays)
    time_of_day = f"{hours}:{minutes}:00 {zone}"
    if expr.dom_restricted and expr.dow_restricted:
        by_day = f"*-{months}-{days} {time_of_day}"
        by_weekday = f"{weekdays} *-{months}-* {time_of_day}".lstrip()
        return [by_day, by_weekday]
    prefix = f"{weekdays} " if weekdays else ""
    return [f"{prefix}*-{months}-{days} {time_of_day}"]


def _systemd_values(values: Iterable[int], low: int, high: int) -> str:
    """A calendar component: `*`, `start/step` to the end of the field, or a list of ranges."""
    ordered = tuple(values)
    if ordered == tuple(range(low, high + 1)):
        return "*"
    step = _arithmetic_step(ordered)
    if step and step > 1 and ordered == tuple(range(ordered[0], high + 1, step)):
        return f"{ordered[0]:02d}/{step}"
    parts = []
    for first, last in _runs(ordered):
        if last - first >= 2:
            parts.append(f"{first:02d}..{last:02d}")
        else:
            parts.extend(f"{value:02d}" for value in range(first, last + 1))
    return ",".join(parts)


def _systemd_weekdays(weekdays: tuple[int, ...]) -> str:
    """Weekday names in systemd's Monday-first order; empty when every day is allowed."""
    monday_first = sorted((day + 6) % 7 for day in weekdays)
    if len(monday_first) == 7:
        return ""
    parts = []
    for first, last in _runs(monday_first):
        if last - first >= 2:
            parts.append(f"{_SYSTEMD_WEEKDAYS[first]}..{_SYSTEMD_WEEKDAYS[last]}")
        else:
            parts.extend(_SYSTEMD_WEEKDAYS[day] for day in range(first, last + 1))
    return ",".join(parts)


# --- Kubernetes ------------------------------------------------------------------------


def _kubernetes_units(
    job: Job,
    home_path: str,
    scoot_bin: str,
    image: str,
    timing: _Timing,
    api_key_env: str,
    paused: bool = False,
) -> dict[str, str]:
    if job.jitter_sec:
        raise Refused(
            f"jitter_sec={job.jitter_sec}: a CronJob has no start delay, so its runs would "
            "start at the instant itself (set jitter_sec = 0 to export it)"
        )
    schedule = kubernetes_schedule(job)
    deadline = _starting_deadline(job)
    name = kubernetes_name(job.id)
    labels = {"app.kubernetes.io/name": "scoot", "app.kubernetes.io/component": "job"}
    container: dict[str, Any] = {
        "name": "scoot",
        "image": image,
        # Explicit, so an image loaded into the nodes (kind, minikube) works even as :latest.
        "imagePullPolicy": "IfNotPresent",
        "command": _trigger_argv(scoot_bin, job.id),
        "env": [
            {"name": "SCOOT_HOME", "value": home_path},
            {
                "name": api_key_env,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": KUBERNETES_SECRET,
                        "key": KUBERNETES_SECRET_KEY,
                        "optional": True,
                    }
                },
            },
        ],
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "scoot-data", "mountPath": KUBERNETES_DATA_MOUNT},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    spec: dict[str, Any] = {
        "schedule": schedule,
        "timeZone": job.trigger.timezone or "Etc/UTC",
        "concurrencyPolicy": "Forbid",
    }
    if paused:
        spec["suspend"] = True
    if deadline is not None:
        spec["startingDeadlineSeconds"] = deadline
    spec["successfulJobsHistoryLimit"] = 3
    spec["failedJobsHistoryLimit"] = 3
    spec["jobTemplate"] = {
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": timing.backstop_sec(job),
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": timing.stop_sec(),
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": KUBERNETES_UID,
                        "runAsGroup": KUBERNETES_UID,
                        "fsGroup": KUBERNETES_UID,
                        "fsGroupChangePolicy": "OnRootMismatch",
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "scoot-data",
                            "persistentVolumeClaim": {"claimName": KUBERNETES_CLAIM},
                        },
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        }
    }
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "labels": labels, "annotations": {"scoot/job-id": job.id}},
        "spec": spec,
    }
    lateness = (
        "no lateness limit" if deadline is None else f"runs at most {deadline} s late, else skips"
    )
    header = [
        f"# scoot job {job.id}: {describe(job.trigger)}; {lateness}.",
        "# Written by `scoot schedule export --format kubernetes`; apply with kubectl apply -f.",
    ]
    if paused:
        header.append("# Paused in scoot when exported: suspend is true until you resume it.")
    return {f"scoot-job-{job.id}.yaml": "\n".join(header + to_yaml(manifest)) + "\n"}


def kubernetes_schedule(job: Job) -> str:
    """The 5-field schedule firing exactly at the job's instants; raises Refused."""
    trigger = job.trigger
    if trigger.kind == "at":
        raise Refused(
            "a CronJob cannot fire once; run a one-off Kubernetes Job with the same pod "
            "template at that time instead"
        )
    if trigger.kind == "cron":
        assert trigger.cron is not None
        return kubernetes_cron(trigger.cron)
    interval = trigger.every_sec
    assert interval is not None
    if interval == _WEEK_SEC:
        return "0 0 * * 4"  # Thursdays, as the epoch was
    if interval % 60 == 0 and interval < 3600 and 60 % (interval // 60) == 0:
        minutes = interval // 60
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if interval % 3600 == 0 and 24 % (interval // 3600) == 0:
        hours = interval // 3600
        return "0 * * * *" if hours == 1 else ("0 0 * * *" if hours == 24 else f"0 */{hours} * * *")
    raise Refused(
        f"every_sec={interval} is not a whole number of minutes dividing an hour, of hours "
        "dividing a day, nor one week, so one cron schedule cannot repeat it exactly; "
        "use e.g. 300, 3600 or 7200"
    )


def kubernetes_cron(expr: CronExpr) -> str:
    """The expression re-rendered for Kubernetes (robfig/cron), with the same matches.

    That parser ORs the day fields unless one of them is `*` (or a `*` list
    item without a step), which differs from Vixie cron only for a stepped
    `*/N` field: those are written as explicit lists, and an AND it cannot
    say is refused.
    """
    days_full = expr.days == tuple(range(1, 32))
    weekdays_full = expr.weekdays == tuple(range(7))
    if expr.dom_restricted and expr.dow_restricted:
        # OR: both written as explicit lists, never `*`.
        days = _cron_values(expr.days, 1, 31, star=False)
        weekdays = _cron_values(expr.weekdays, 0, 6, star=False)
    elif days_full:
        # AND with one side everything: that side is `*`, which makes the parser AND too.
        days = "*"
        weekdays = _cron_values(expr.weekdays, 0, 6)
    elif weekdays_full:
        days = _cron_values(expr.days, 1, 31)
        weekdays = "*"
    else:
        raise Refused(
            f'cron "{expr.source}" needs a day that matches both day fields; Kubernetes '
            "treats both as restricted and would fire when either matches (write the days "
            "as a single field, or keep this job on the scoot daemon)"
        )
    minutes = _cron_values(expr.minutes, 0, 59)
    hours = _cron_values(expr.hours, 0, 23)
    months = _cron_values(expr.months, 1, 12)
    return f"{minutes} {hours} {days} {months} {weekdays}"


def _cron_values(values: tuple[int, ...], low: int, high: int, *, star: bool = True) -> str:
    """A cron field: `*` (when allowed), `a-b/s`, or a list of values and ranges."""
    if star and values == tuple(range(low, high + 1)):
        return "*"
    step = _arithmetic_step(values)
    if step and step > 1:
        return f"{values[0]}-{values[-1]}/{step}"
    parts = []
    for first, last in _runs(values):
        if last - first >= 2:
            parts.append(f"{first}-{last}")
        else:
            parts.extend(str(value) for value in range(first, last + 1))
    return ",".join(parts)


def _starting_deadline(job: Job) -> int | None:
    """startingDeadlineSeconds: the job's grace (None: unlimited); raises Refused."""
    trigger = job.trigger
    if job.max_late_sec is not None:
        deadline = math.floor(job.max_late_sec)
        if deadline < KUBERNETES_MIN_DEADLINE_SEC:
            raise Refused(
                f"max_late_sec={job.max_late_sec:g} is below 10 s; the CronJob controller "
                "looks every 10 s and might never start the job (use 10 or more)"
            )
        return deadline
    if trigger.kind == "every":
        assert trigger.every_sec is not None
        return trigger.every_sec
    if job.catch_up == "once":
        return None
    return 60  # the rest of the minute, scoot's default grace for a cron instant


def kubernetes_name(job_id: str) -> str:
    """A valid, unique CronJob name for a job id (lowercase, at most 52 characters)."""
    slug = re.sub(r"[^a-z0-9-]", "-", job_id.lower()).strip("-")
    prefix = "scoot-job-"
    if slug == job_id and len(prefix) + len(slug) <= KUBERNETES_MAX_NAME:
        return prefix + slug
    # Lossy (case, "." or "_", length): a hash of the id keeps distinct ids distinct.
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:8]
    room = KUBERNETES_MAX_NAME - len(prefix) - len(digest) - 1
    slug = slug[:room].strip("-")
    return f"{prefix}{slug}-{digest}" if slug else f"{prefix}{digest}"


# --- YAML ------------------------------------------------------------------------------


def to_yaml(value: dict[str, Any], indent: int = 0) -> list[str]:
    """Block-style YAML lines for a mapping; strings are JSON-quoted, so always safe."""
    lines: list[str] = []
    pad = " " * indent
    for key, item in value.items():
        label = key if _PLAIN_YAML_KEY.fullmatch(key) else json.dumps(key)
        if isinstance(item, dict) and item:
            lines.append(f"{pad}{label}:")
            lines.extend(to_yaml(item, indent + 2))
        elif isinstance(item, list) and item:
            lines.append(f"{pad}{label}:")
            lines.extend(_yaml_list(item, indent + 2))
        else:
            lines.append(f"{pad}{label}: {_yaml_scalar(item)}")
    return lines


def _yaml_list(items: list[Any], indent: int) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for item in items:
        if isinstance(item, dict) and item:
            nested = to_yaml(item, indent + 2)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines.extend(nested[1:])
        elif isinstance(item, list) and item:
            raise ValueError("nested lists are not written")
        else:
            lines.append(f"{pad}- {_yaml_scalar(item)}")
    return lines


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    raise ValueError(f"cannot write {type(value).__name__} as YAML")
