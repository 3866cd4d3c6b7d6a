"""Kubernetes CronJobs: a manifest per job, its schedule, deadline and names."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from scoot.export.common import _WEEK_SEC, Refused, _arithmetic_step, _runs, _Timing, _trigger_argv
from scoot.export.yaml_text import to_yaml
from scoot.schedule.cron import CronExpr
from scoot.schedule.jobs import Job
from scoot.schedule.triggers import describe

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
    labels = {"app.kubernetes.io/name": "scoot", "app.kubernetes.io/component": "job"}
    container = _container(job, home_path, scoot_bin, image, api_key_env)
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
                "spec": _pod_spec(container, timing),
            },
        }
    }
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": kubernetes_name(job.id),
            "labels": labels,
            "annotations": {"scoot/job-id": job.id},
        },
        "spec": spec,
    }
    header = _manifest_header(job, deadline, paused)
    return {f"scoot-job-{job.id}.yaml": "\n".join(header + to_yaml(manifest)) + "\n"}


def _container(
    job: Job, home_path: str, scoot_bin: str, image: str, api_key_env: str
) -> dict[str, Any]:
    """The one container of a job's pod: `scoot job trigger`, the token from a Secret."""
    return {
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


def _pod_spec(container: dict[str, Any], timing: _Timing) -> dict[str, Any]:
    """The pod of one run: never restarted, non-root, the data claim and a scratch /tmp."""
    return {
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
    }


def _manifest_header(job: Job, deadline: int | None, paused: bool) -> list[str]:
    lateness = (
        "no lateness limit" if deadline is None else f"runs at most {deadline} s late, else skips"
    )
    header = [
        f"# scoot job {job.id}: {describe(job.trigger)}; {lateness}.",
        "# Written by `scoot schedule export --format kubernetes`; apply with kubectl apply -f.",
    ]
    if paused:
        header.append("# Paused in scoot when exported: suspend is true until you resume it.")
    return header


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
