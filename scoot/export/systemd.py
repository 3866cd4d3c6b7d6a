"""systemd units: a service and a timer per job, its calendar lines and hardening."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from scoot.export.common import (
    _DAY_SEC,
    _WEEK_SEC,
    MAX_CALENDAR_LINES,
    Refused,
    UnitScope,
    _arithmetic_step,
    _min_gap,
    _runs,
    _Timing,
    _trigger_argv,
)
from scoot.schedule.civil import civil_from_days
from scoot.schedule.cron import CronExpr
from scoot.schedule.jobs import Job
from scoot.schedule.triggers import describe

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


SYSTEM_USER = "scoot"


_LAST_SYSTEMD_YEAR = 2199


# systemd numbers weekdays from Monday; cron from Sunday.
_SYSTEMD_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _systemd_units(
    job: Job, home_path: str, scoot_bin: str, timing: _Timing, now: float, scope: UnitScope
) -> dict[str, str]:
    calendars, persistent, note = _systemd_schedule(job, now)
    delay = _random_delay(job, now)
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


def _random_delay(job: Job, now: float) -> list[str]:
    """The timer's jitter lines; refused when the delay could reach the next instant."""
    if not job.jitter_sec:
        return []
    gap = _min_gap(job, now)
    if gap is not None and job.jitter_sec >= gap:
        raise Refused(
            f"jitter_sec={job.jitter_sec} reaches the {gap:g} s between two instants; "
            "systemd's delay could then start a run after the next instant is due "
            "(use a jitter_sec below the shortest gap)"
        )
    return [f"RandomizedDelaySec={job.jitter_sec}s", "FixedRandomDelay=yes"]


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
        for second_set, minute_set in shape:
            first = (min(hours), min(minute_set), min(second_set))
            text = (
                f"*-*-* {_systemd_values(sorted(hours), 0, 23)}:"
                f"{_systemd_values(sorted(minute_set), 0, 59)}:"
                f"{_systemd_values(sorted(second_set), 0, 59)} UTC"
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
