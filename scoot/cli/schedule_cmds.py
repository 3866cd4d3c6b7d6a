"""`schedule`: list, run, trigger, preview, pause, resume and export the configured jobs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scoot.cli.common import echo_lines, home_of, home_option, instance_of, print_json
from scoot.cli.lazy import LazyGroup
from scoot.errors import ScootError

if TYPE_CHECKING:
    from scoot.export.common import ExportFormat

NO_JOBS = "no valid jobs configured: add [[schedule.jobs]] entries to the config"


# The subcommands that read run records live with the other record readers.
RECORD_COMMANDS = {
    "history": "scoot.cli.records_cmds:schedule_history",
    "last": "scoot.cli.records_cmds:schedule_last",
}


@click.group(cls=LazyGroup, lazy=RECORD_COMMANDS)
@home_option
def schedule() -> None:
    """List, run, trigger and review scheduled jobs."""


@schedule.command("list")
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def schedule_list(ctx: click.Context, as_json: bool) -> int:
    """Show each job, ACTIVE or INACTIVE, with its trigger, mode and next fire."""
    from scoot.cli.listing import render_json, render_text, schedule_view
    from scoot.instance.open import print_warnings

    rows, header, warnings = schedule_view(instance_of(ctx, create=False), time.time())
    print_warnings(warnings)
    if as_json:
        print_json(render_json(rows, header))
    else:
        echo_lines(render_text(rows, header))
    return 0


@schedule.command("run")
@home_option
@click.option(
    "--ticks", type=click.IntRange(min=0), default=0, help="Poll cycles to run (0 = forever)."
)
@click.pass_context
def schedule_run(ctx: click.Context, ticks: int) -> int:
    """Run the scheduler loop in the foreground."""
    from scoot.supervise.entrypoints import run_schedule

    _, code = run_schedule(
        instance_of(ctx, long_lived=not ticks), ticks=ticks, home_option=home_of(ctx)
    )
    if ticks:
        from scoot.records.leaving import leave_quickly

        leave_quickly()  # its records are committed and closed: no teardown at exit
    return code


@schedule.command("trigger")
@home_option
@click.argument("job_id")
@click.pass_context
def schedule_trigger(ctx: click.Context, job_id: str) -> int:
    """Run one configured job now and print its answer."""
    from scoot.supervise.entrypoints import trigger_job

    return trigger_job(instance_of(ctx), job_id)


@schedule.command("next")
@home_option
@click.argument("job_ids", nargs=-1, metavar="[JOB]...")
@click.option("--from", "start", metavar="WHEN", help="ISO 8601 or Unix seconds (default: now).")
@click.option("--count", type=click.IntRange(1, 10_000), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def schedule_next(
    ctx: click.Context, job_ids: tuple[str, ...], start: str | None, count: int, as_json: bool
) -> int:
    """Preview the next fire instants of jobs, in UTC and the job's zone, with jitter."""
    from scoot.errors import UsageError
    from scoot.schedule.ledger import Ledger
    from scoot.schedule.pauses import PauseStore
    from scoot.schedule.preview import fires_of, parse_when, preview_json, preview_text

    instance = instance_of(ctx, create=False)
    begin = parse_when(start) if start is not None else time.time()
    jobs = instance.jobset.by_id()
    unknown = [job_id for job_id in job_ids if job_id not in jobs]
    if unknown:
        raise UsageError(
            f"no valid job {unknown[0]!r} in the config; see `scoot schedule list` for the ids"
        )
    picked = [jobs[job_id] for job_id in job_ids] if job_ids else list(instance.jobset.jobs)
    try:
        entries = Ledger(instance.home.ledger, instance.home.ledger_lock).peek()
    except OSError:
        entries = {}
    pauses = PauseStore(instance.home.pauses, instance.home.pauses_lock).read()
    results = [
        (job, fires_of(job, entries.get(job.id), begin, count, pauses.get(job.id)))
        for job in picked
    ]
    if as_json:
        print_json({"from": begin, "jobs": [preview_json(job, fires) for job, fires in results]})
    else:
        lines = [] if results else [NO_JOBS]
        for job, fires in results:
            lines += preview_text(job, fires)
        echo_lines(lines)
    return 0


@schedule.command("pause")
@home_option
@click.argument("job_id")
@click.option(
    "--until", "until", metavar="WHEN", help="ISO 8601 or Unix seconds (default: resume by hand)."
)
@click.option("--reason", default="", help="Why; shown by `schedule list`.")
@click.pass_context
def schedule_pause(ctx: click.Context, job_id: str, until: str | None, reason: str) -> int:
    """Pause a job: its instants are recorded as skipped until it is resumed."""
    from scoot.errors import UsageError
    from scoot.schedule.pauses import Pause, PauseStore
    from scoot.schedule.preview import format_iso, parse_when

    instance = instance_of(ctx)
    if job_id not in instance.jobset.by_id():
        raise UsageError(
            f"no valid job {job_id!r} in the config; see `scoot schedule list` for the ids"
        )
    now = time.time()
    until_t = parse_when(until) if until is not None else None
    if until_t is not None and until_t <= now:
        raise UsageError(f"--until {until} is already past; give a later time")
    store = PauseStore(instance.home.pauses, instance.home.pauses_lock)
    try:
        store.pause(job_id, Pause(reason=" ".join(reason.split())[:500], since=now, until=until_t))
    except OSError as exc:
        raise ScootError(
            f"cannot write {store.path} ({exc.strerror}); check its permissions"
        ) from None
    when = f" until {format_iso(until_t)}" if until_t is not None else ""
    click.echo(f"job {job_id} paused{when}; resume with: scoot schedule resume {job_id}")
    return 0


@schedule.command("resume")
@home_option
@click.argument("job_id")
@click.pass_context
def schedule_resume(ctx: click.Context, job_id: str) -> int:
    """Lift a job's pause (and reset its count of failures in a row)."""
    from scoot.schedule.pauses import PauseStore

    instance = instance_of(ctx)
    store = PauseStore(instance.home.pauses, instance.home.pauses_lock)
    try:
        lifted = store.resume(job_id)
    except OSError as exc:
        raise ScootError(
            f"cannot write {store.path} ({exc.strerror}); check its permissions"
        ) from None
    click.echo(f"job {job_id} resumed" if lifted else f"job {job_id} was not paused")
    return 0


@schedule.command("export")
@home_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["systemd", "kubernetes"]),
    required=True,
    help="Target engine.",
)
@click.option("--out", "out_dir", metavar="DIR", help="Write the files here (default: print them).")
@click.option(
    "--image", default="scoot:latest", show_default=True, help="Kubernetes: container image."
)
@click.option(
    "--scoot-bin", default="/usr/local/bin/scoot", show_default=True, help="systemd: scoot's path."
)
@click.option(
    "--home-path",
    metavar="PATH",
    help="SCOOT_HOME where the units run (default: this home; Kubernetes: the volume).",
)
@click.option(
    "--user", "user_units", is_flag=True, help="systemd: user units instead of system units."
)
@click.pass_context
def schedule_export(
    ctx: click.Context,
    fmt: ExportFormat,  # click.Choice holds it to the two names
    out_dir: str | None,
    image: str,
    scoot_bin: str,
    home_path: str | None,
    user_units: bool,
) -> int:
    """Turn the configured jobs into systemd timers or Kubernetes CronJobs."""
    from scoot.export import KUBERNETES_HOME, export_jobs, refusal_lines, write_export
    from scoot.schedule.pauses import PauseStore

    instance = instance_of(ctx, create=False)
    config = instance.config
    now = time.time()
    pauses = PauseStore(instance.home.pauses, instance.home.pauses_lock).read()
    if home_path is None:
        home_path = KUBERNETES_HOME if fmt == "kubernetes" else str(instance.home.root)
    result = export_jobs(
        instance.jobset.jobs,
        fmt=fmt,
        home_path=home_path,
        now=now,
        default_timeout_sec=config.schedule.job_timeout_sec,
        scoot_bin=scoot_bin,
        image=image,
        kill_grace_sec=config.schedule.kill_grace_sec,
        shutdown_grace_sec=config.schedule.shutdown_grace_sec,
        api_key_env=config.backend.api_key_env,
        scope="user" if user_units else "system",
        paused={job_id for job_id, pause in pauses.items() if pause.active(now)},
    )
    for line in write_export(result, Path(out_dir) if out_dir else None):
        click.echo(line)
    for line in refusal_lines(result):
        click.echo(line, err=True)
    if not result.files and not result.refused:
        click.echo("scoot: no valid jobs to export", err=True)
    return 1 if result.refused else 0
