"""Commands that read what ran: `schedule history` and `last`, `report`, sessions and audit."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scoot.cli.common import echo_lines, home_option, instance_of, print_json
from scoot.cli.help import ScootCommand, ScootGroup
from scoot.errors import ScootError
from scoot.shared.terminal import printable

if TYPE_CHECKING:
    from scoot.instance.open import Instance


@click.command("history", cls=ScootCommand)
@home_option
@click.argument("job_id", required=False)
@click.option("--limit", type=click.IntRange(min=0), default=20, help="Runs to show (0 = all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--timeline", is_flag=True, help="One line per job, one cell per run, coloured by status."
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="With --timeline: the days to show (default: 7).",
)
@click.pass_context
def schedule_history(
    ctx: click.Context,
    job_id: str | None,
    limit: int,
    as_json: bool,
    timeline: bool,
    days: float | None,
) -> int:
    """Recent runs from state/runs.jsonl, newest first."""
    from scoot.records.runs import read_runs, recent_runs

    if days is not None and not timeline:
        raise click.UsageError("--days goes with --timeline")
    if timeline and as_json:
        raise click.UsageError("--timeline prints text; use --json without it for the records")
    instance = instance_of(ctx, create=False)
    rows, bad = read_runs(instance.home.runs)
    if timeline:
        _echo_timeline(instance, rows, job_id, days or 7.0)
    elif as_json:
        print_json({"runs": recent_runs(rows, job_id, limit), "unparseable_lines": bad})
        return 0
    else:
        from scoot.cli.views import render_history

        width = shutil.get_terminal_size((100, 24)).columns
        echo_lines(
            printable(line) for line in render_history(recent_runs(rows, job_id, limit), width)
        )
    if bad:
        _warn_unparseable(bad, instance.home.runs)
    return 0


def _echo_timeline(
    instance: Instance, rows: list[dict[str, Any]], job_id: str | None, days: float
) -> None:
    from scoot.cli.timeline import render_timeline

    job_ids = [j.id for j in instance.jobset.jobs]
    if job_id is not None:
        rows = [r for r in rows if r.get("job_id") == job_id]
        job_ids = [job_id]
    lines = render_timeline(
        rows,
        now=time.time(),
        days=days,
        colour=sys.stdout.isatty() and not os.environ.get("NO_COLOR"),
        width=shutil.get_terminal_size((100, 24)).columns,
        job_ids=job_ids,
    )
    echo_lines(lines)


def _warn_unparseable(bad: int, path: Path) -> None:
    click.echo(f"scoot: warning: {bad} unparseable line(s) in {path}", err=True)


@click.command("last", cls=ScootCommand)
@home_option
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def schedule_last(ctx: click.Context, job_id: str, as_json: bool) -> int:
    """The job's last run: status, when, duration, the whole answer or error.

    Exits 0 when that run was ok, 1 otherwise (or when it has not run yet).

    \b
    Example:
      scoot schedule last disk-check && echo "disk-check is fine"
    """
    from scoot.errors import UsageError
    from scoot.notify.views import last_report, render_last
    from scoot.records.runs import read_runs

    instance = instance_of(ctx, create=False)
    rows, _ = read_runs(instance.home.runs)
    report = last_report(instance.home.state, instance.home.sessions, rows, job_id)
    if report is None:
        known = {j.id for j in instance.jobset.jobs} | {b.id for b in instance.jobset.invalid}
        if job_id not in known:
            raise UsageError(f"no job {job_id!r} in the config or in {instance.home.runs}")
        if as_json:
            print_json({"job_id": job_id, "run": None})
        else:
            click.echo(f"job {job_id} has not run yet (see: scoot schedule next {job_id})")
        return 1
    if as_json:
        print_json({"job_id": job_id, "run": report})
    else:
        echo_lines(render_last(report))
    return 0 if report.get("status") == "ok" else 1


@click.command("report", cls=ScootCommand)
@home_option
@click.option("--html", "html_path", metavar="FILE", required=True, help="Write the page here.")
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=7.0,
    show_default=True,
    help="The days of runs to show.",
)
@click.pass_context
def report_cmd(ctx: click.Context, html_path: str, days: float) -> int:
    """Write one self-contained HTML page of the runs: timelines, counts, durations, lateness."""
    from scoot.cli.report_html import render_report
    from scoot.cli.timeline import runs_by_job
    from scoot.records.files import atomic_write_bytes
    from scoot.records.runs import read_runs

    instance = instance_of(ctx, create=False)
    rows, bad = read_runs(instance.home.runs)
    now = time.time()
    page = render_report(
        rows,
        now=now,
        days=days,
        job_ids=[j.id for j in instance.jobset.jobs],
        home=str(instance.home.root),
    )
    target = Path(html_path)
    try:
        atomic_write_bytes(target, page.encode(), mode=0o644)
    except OSError as exc:
        raise ScootError(f"cannot write {target}: {exc.strerror}; pick a writable FILE") from None
    shown = sum(len(r) for r in runs_by_job(rows, now=now, days=days).values())
    click.echo(f"wrote {target}: {shown} run(s) of the last {days:g} day(s)")
    if bad:
        _warn_unparseable(bad, instance.home.runs)
    return 0


@click.group(cls=ScootGroup)
@home_option
def sessions() -> None:
    """List recorded sessions."""


@sessions.command("list")
@home_option
@click.pass_context
def sessions_list(ctx: click.Context) -> int:
    """Every session file, newest first."""
    from scoot.cli.views import list_sessions

    instance = instance_of(ctx, create=False)
    echo_lines(printable(line) for line in list_sessions(instance.home))
    return 0


@click.group(cls=ScootGroup)
@home_option
def session() -> None:
    """Show one session."""


@session.command("show")
@home_option
@click.argument("session_id")
@click.option("--full", is_flag=True, help="Also print each run's whole system prompt.")
@click.pass_context
def session_show(ctx: click.Context, session_id: str, full: bool) -> int:
    """Print a session's transcript (system prompts folded unless --full)."""
    from scoot.cli.views import show_session

    instance = instance_of(ctx, create=False)
    echo_lines(printable(line) for line in show_session(instance.home, session_id, full=full))
    return 0


@click.group(cls=ScootGroup)
@home_option
def audit() -> None:
    """Read the audit log."""


@audit.command("show")
@home_option
@click.argument("session_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSONL events.")
@click.pass_context
def audit_show(ctx: click.Context, session_id: str | None, as_json: bool) -> int:
    """Print audit events of one session, or all of them."""
    from scoot.cli.views import audit_events, audit_lines

    instance = instance_of(ctx, create=False)
    lines = audit_lines if as_json else audit_events
    for line in lines(instance.home, session_id):
        sys.stdout.write(printable(line) + "\n")
    return 0
