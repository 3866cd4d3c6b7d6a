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

from scoot.export.build import export_jobs, refusal_lines, write_export
from scoot.export.common import (
    BACKSTOP_MARGIN_SEC,
    MAX_CALENDAR_LINES,
    ExportError,
    ExportResult,
    Refused,
)
from scoot.export.kubernetes import (
    KUBERNETES_DATA_MOUNT,
    KUBERNETES_HOME,
    KUBERNETES_UID,
    kubernetes_cron,
    kubernetes_name,
    kubernetes_schedule,
)
from scoot.export.systemd import (
    SYSTEM_HARDENING,
    USER_HARDENING,
    at_calendar,
    cron_calendars,
    every_calendars,
)
from scoot.export.yaml_text import to_yaml

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
