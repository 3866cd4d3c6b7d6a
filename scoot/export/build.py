"""Export every job of a config, refuse what a format cannot express, write the files."""

from __future__ import annotations

from pathlib import Path

from scoot.errors import ScootError
from scoot.export.common import (
    ExportError,
    ExportFormat,
    ExportResult,
    Refused,
    UnitScope,
    _check_path,
    _check_zone,
    _is_within,
    _Timing,
)
from scoot.export.kubernetes import KUBERNETES_DATA_MOUNT, KUBERNETES_HOME, _kubernetes_units
from scoot.export.systemd import _systemd_units
from scoot.records.files import atomic_write_bytes
from scoot.schedule.jobs import Job


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
