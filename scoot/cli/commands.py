"""The `scoot` command line: a thin click layer over the library's functions."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from typing import Any

import click
import orjson

from scoot import __version__
from scoot.cli.help import ScootGroup
from scoot.errors import EXIT_USAGE, ScootError
from scoot.instance.config import BackendConfig
from scoot.records.killpoints import install_from_env as install_kill_points
from scoot.shared.terminal import printable

HOME_KEY = "scoot_home"


def _remember_home(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.find_root().meta[HOME_KEY] = value


def home_option(func: Any) -> Any:
    """`--scoot-home` is global: accepted before or after the command."""
    return click.option(
        "--scoot-home",
        metavar="DIR",
        expose_value=False,
        is_eager=True,
        callback=_remember_home,
        help="Runtime directory (default: $SCOOT_HOME, else ~/.scoot).",
    )(func)


def _home(ctx: click.Context) -> str | None:
    return ctx.find_root().meta.get(HOME_KEY)


def _instance(ctx: click.Context, *, create: bool = True):  # noqa: ANN202
    from scoot.instance.open import open_instance, print_warnings

    instance = open_instance(_home(ctx), create=create)
    print_warnings(instance.warnings)
    return instance


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


@click.group(
    cls=ScootGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@home_option
@click.option("-e", "--exec", "goal", metavar="GOAL", help="Run one goal now and print the answer.")
@click.option("--trace", is_flag=True, help="With -e: show each step on stderr.")
@click.option(
    "--retries",
    type=click.IntRange(0, 20),
    default=None,
    help="With -e: backend retries (default: [backend] retries).",
)
@click.option(
    "--session-id",
    metavar="ID",
    help="With -e: the session id to record under (default: cli-<ms>-<pid>).",
)
@click.option(
    "--policy",
    metavar="MODE",
    help="With -e: readonly, guarded or unrestricted (default: [tools] policy).",
)
@click.option("--unattended", is_flag=True, help="With -e: clamp the mode like a scheduled job.")
@click.option(
    "--timeout",
    "timeout_sec",
    type=click.FloatRange(min=0, min_open=True, max=2147483647),
    metavar="SECONDS",
    help="With -e: end the run after this long (default: [agent] exec_timeout_sec).",
)
@click.version_option(__version__, prog_name="scoot")
@click.pass_context
def cli(
    ctx: click.Context,
    goal: str | None,
    trace: bool,
    retries: int | None,
    session_id: str | None,
    policy: str | None,
    unattended: bool,
    timeout_sec: float | None,
) -> int | None:
    """scoot: run plain-language goals now, or unattended on a schedule."""
    if ctx.invoked_subcommand is not None and goal is not None:
        raise click.UsageError("-e cannot be combined with a command")
    if goal is None:
        given = {
            "--trace": trace,
            "--retries": retries is not None,
            "--session-id": session_id is not None,
            "--policy": policy is not None,
            "--unattended": unattended,
            "--timeout": timeout_sec is not None,
        }
        for name, present in given.items():
            if present:
                raise click.UsageError(f'{name} only applies to -e: use scoot -e "<goal>" {name}')
    if ctx.invoked_subcommand is not None:
        return None
    if goal is None:
        click.echo(ctx.get_help())
        return 0
    from scoot.supervise.entrypoints import run_goal

    return run_goal(
        _instance(ctx),
        goal,
        trace=trace,
        retries=retries,
        session_id=session_id,
        policy=policy,
        unattended=unattended,
        timeout_sec=timeout_sec,
    )


# -- setup / config / doctor -------------------------------------------------------
@cli.command()
@home_option
@click.option(
    "--base-url",
    help=f"Model backend base URL (OpenAI-compatible) (default: {BackendConfig.base_url}).",
)
@click.option("--model", help=f"Model name (default: {BackendConfig.model}).")
@click.option(
    "--api", type=click.Choice(["chat", "responses"]), help="Backend API (default: chat)."
)
@click.option(
    "--token-source",
    type=click.Choice(["env", "file", "command", "none"]),
    help="Where the API token comes from (default: env).",
)
@click.option(
    "--api-key-env",
    metavar="NAME",
    help=f"Environment variable holding the token (default: {BackendConfig.api_key_env}).",
)
@click.option("--api-key-cmd", metavar="CMD", help="Command that prints the token.")
@click.option(
    "--token-stdin", is_flag=True, help="Read the token from stdin into the 0600 token file."
)
@click.option("--max-turns", type=int, help="Agent turn limit per run (default: 32).")
@click.option(
    "--policy",
    type=click.Choice(["readonly", "guarded", "unrestricted"]),
    help="Policy for -e (default: guarded).",
)
@click.option(
    "--enable-schedule/--disable-schedule",
    default=None,
    help="Turn scheduling on or off (default: ask; disabled with --non-interactive).",
)
@click.option("--non-interactive", is_flag=True, help="Never prompt; use flags and defaults.")
@click.option("--force", is_flag=True, help="Overwrite an existing config without asking.")
@click.pass_context
def setup(ctx: click.Context, **options: Any) -> int:
    """Provision a runtime directory and write its config.toml."""
    from scoot.cli.setup import run_setup

    return run_setup(_home(ctx), options)


@cli.group("config", invoke_without_command=True)
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def config_cmd(ctx: click.Context, as_json: bool) -> int | None:
    """Show the resolved runtime directory, config file and every effective value."""
    if ctx.invoked_subcommand is not None:
        return None
    from scoot.cli.doctor import config_report, render_config
    from scoot.instance.open import print_warnings

    instance = _instance(ctx)
    report = config_report(instance)
    # The home and config warnings were printed on loading; a refused token file was not.
    print_warnings(report["token_warnings"])
    if as_json:
        _print_json(report)
    else:
        for line in render_config(report):
            click.echo(line)
    return 0


@config_cmd.command("check")
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def config_check_cmd(ctx: click.Context, as_json: bool) -> int:
    """Lint the config: exit 0 clean, 1 an invalid job or unknown key, 2 unreadable."""
    from scoot.cli.config_check import check_config, render_check

    report = check_config(_home(ctx))
    if as_json:
        _print_json(report)
    else:
        for line in render_check(report):
            click.echo(line)
    return 1 if report["problems"] else 0


@cli.command()
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--offline", is_flag=True, help="Do not contact the model backend.")
@click.option(
    "--backend-timeout",
    type=click.FloatRange(min=0.1, max=120),
    default=5.0,
    show_default=True,
    help="Seconds to wait for the backend's answer.",
)
@click.pass_context
def doctor(ctx: click.Context, as_json: bool, offline: bool, backend_timeout: float) -> int:
    """Check the runtime directory, config, token, backend, schedule and kernel sandbox."""
    from scoot.cli.doctor import render_doctor, run_doctor

    checks = run_doctor(_home(ctx), offline=offline, backend_timeout_sec=backend_timeout)
    if as_json:
        _print_json(checks)
    else:
        for line in render_doctor(checks):
            click.echo(line)
    return 1 if checks["failures"] else 0


# -- schedule ----------------------------------------------------------------------
@cli.group()
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

    rows, header, warnings = schedule_view(_instance(ctx, create=False), time.time())
    print_warnings(warnings)
    if as_json:
        _print_json(render_json(rows, header))
    else:
        for line in render_text(rows, header):
            click.echo(line)
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

    _, code = run_schedule(_instance(ctx), ticks=ticks, home_option=_home(ctx))
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

    return trigger_job(_instance(ctx), job_id)


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

    instance = _instance(ctx, create=False)
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
        _print_json({"from": begin, "jobs": [preview_json(job, fires) for job, fires in results]})
    else:
        if not results:
            click.echo("no valid jobs configured: add [[schedule.jobs]] entries to the config")
        for job, fires in results:
            for line in preview_text(job, fires):
                click.echo(line)
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

    instance = _instance(ctx)
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

    instance = _instance(ctx)
    store = PauseStore(instance.home.pauses, instance.home.pauses_lock)
    try:
        lifted = store.resume(job_id)
    except OSError as exc:
        raise ScootError(
            f"cannot write {store.path} ({exc.strerror}); check its permissions"
        ) from None
    click.echo(f"job {job_id} resumed" if lifted else f"job {job_id} was not paused")
    return 0


@schedule.command("history")
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
    from scoot.cli.views import render_history
    from scoot.records.runs import read_runs, recent_runs

    if days is not None and not timeline:
        raise click.UsageError("--days goes with --timeline")
    if timeline and as_json:
        raise click.UsageError("--timeline prints text; use --json without it for the records")
    instance = _instance(ctx, create=False)
    rows, bad = read_runs(instance.home.runs)
    if timeline:
        from scoot.cli.timeline import render_timeline

        job_ids = [j.id for j in instance.jobset.jobs]
        if job_id is not None:
            rows = [r for r in rows if r.get("job_id") == job_id]
            job_ids = [job_id]
        for line in render_timeline(
            rows,
            now=time.time(),
            days=days or 7.0,
            colour=sys.stdout.isatty() and not os.environ.get("NO_COLOR"),
            width=shutil.get_terminal_size((100, 24)).columns,
            job_ids=job_ids,
        ):
            click.echo(line)
        if bad:
            click.echo(
                f"scoot: warning: {bad} unparseable line(s) in {instance.home.runs}", err=True
            )
        return 0
    picked = recent_runs(rows, job_id, limit)
    if as_json:
        _print_json({"runs": picked, "unparseable_lines": bad})
    else:
        for line in render_history(picked, shutil.get_terminal_size((100, 24)).columns):
            click.echo(printable(line))
        if bad:
            click.echo(
                f"scoot: warning: {bad} unparseable line(s) in {instance.home.runs}", err=True
            )
    return 0


@schedule.command("last")
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

    instance = _instance(ctx, create=False)
    rows, _ = read_runs(instance.home.runs)
    report = last_report(instance.home.state, instance.home.sessions, rows, job_id)
    if report is None:
        known = {j.id for j in instance.jobset.jobs} | {b.id for b in instance.jobset.invalid}
        if job_id not in known:
            raise UsageError(f"no job {job_id!r} in the config or in {instance.home.runs}")
        if as_json:
            _print_json({"job_id": job_id, "run": None})
        else:
            click.echo(f"job {job_id} has not run yet (see: scoot schedule next {job_id})")
        return 1
    if as_json:
        _print_json({"job_id": job_id, "run": report})
    else:
        for line in render_last(report):
            click.echo(line)
    return 0 if report.get("status") == "ok" else 1


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
    fmt: str,
    out_dir: str | None,
    image: str,
    scoot_bin: str,
    home_path: str | None,
    user_units: bool,
) -> int:
    """Turn the configured jobs into systemd timers or Kubernetes CronJobs."""
    from pathlib import Path

    from scoot.export import KUBERNETES_HOME, export_jobs, refusal_lines, write_export
    from scoot.schedule.pauses import PauseStore

    instance = _instance(ctx, create=False)
    config = instance.config
    now = time.time()
    pauses = PauseStore(instance.home.pauses, instance.home.pauses_lock).read()
    if home_path is None:
        home_path = KUBERNETES_HOME if fmt == "kubernetes" else str(instance.home.root)
    result = export_jobs(
        instance.jobset.jobs,
        fmt=fmt,  # type: ignore[arg-type]
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


@cli.command("report")
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
    from pathlib import Path

    from scoot.cli.report_html import render_report
    from scoot.cli.timeline import runs_by_job
    from scoot.records.files import atomic_write_bytes
    from scoot.records.runs import read_runs

    instance = _instance(ctx, create=False)
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
        click.echo(f"scoot: warning: {bad} unparseable line(s) in {instance.home.runs}", err=True)
    return 0


# -- daemon ------------------------------------------------------------------------
@cli.group()
@home_option
def daemon() -> None:
    """Run the scheduler as a long-lived daemon, check on it, stop it."""


@daemon.command("run")
@home_option
@click.option(
    "--ticks", type=click.IntRange(min=0), default=0, help="Poll cycles to run (0 = forever)."
)
@click.pass_context
def daemon_run_cmd(ctx: click.Context, ticks: int) -> int:
    """Run the daemon in the foreground (pair it with systemd or another supervisor)."""
    from scoot.supervise.daemon import daemon_run

    return daemon_run(_instance(ctx), ticks=ticks, home_option=_home(ctx))


@daemon.command("status")
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def daemon_status(ctx: click.Context, as_json: bool) -> int:
    """Print the daemon's state, runs, queue and next fires.

    Exits 0 when it runs, 3 when it does not (stopped or never started),
    1 when the state says running but the daemon is dead, 4 when the state
    cannot be read.
    """
    from scoot.cli.views import render_status
    from scoot.instance.home import resolve_home
    from scoot.supervise.daemon import status_report

    home = resolve_home(_home(ctx))
    report = status_report(home)
    if as_json:
        _print_json(report)
    else:
        for line in render_status(report):
            click.echo(line)
    return int(report["exit_code"])


@daemon.command("stop")
@home_option
@click.option("--wait", is_flag=True, help="Wait until the daemon has exited.")
@click.option("--timeout", type=float, default=60.0, help="Seconds to wait with --wait.")
@click.pass_context
def daemon_stop_cmd(ctx: click.Context, wait: bool, timeout: float) -> int:
    """SIGTERM the daemon, only when its state and pid file agree."""
    from scoot.instance.home import resolve_home
    from scoot.supervise.daemon import daemon_stop

    code, message = daemon_stop(
        resolve_home(_home(ctx)), wait=wait, timeout_sec=timeout, progress=click.echo
    )
    click.echo(f"[scoot] {message}")
    return code


# -- notifications -----------------------------------------------------------------
@cli.group()
@home_option
def notify() -> None:
    """Notification targets and the outbox (see docs/notifications.md)."""


@notify.command("test")
@home_option
@click.argument("name")
@click.pass_context
def notify_test(ctx: click.Context, name: str) -> int:
    """Send a `test` event to the target NAME now and report the outcome."""
    from scoot.errors import UsageError
    from scoot.notify.views import send_test

    instance = _instance(ctx, create=False)
    targets = instance.config.notify.targets
    target = targets.get(name)
    if target is None:
        known = ", ".join(sorted(targets)) or "none"
        raise UsageError(f"no notify target {name!r} (add [notify.{name}]; known: {known})")
    result = send_test(target, instance.home.root, dict(os.environ))
    if result["secret_missing"]:
        click.echo(
            f"scoot: warning: {target.secret_env} is not set; the test was sent unsigned", err=True
        )
    where = target.url or " ".join(target.command or ())
    if result["ok"]:
        status = f"HTTP {result['http_status']}" if result.get("http_status") else "exit 0"
        click.echo(f"delivered to {name} ({where}): {status} in {result['elapsed_sec']:.1f} s")
        return 0
    click.echo(f"scoot: not delivered to {name} ({where}): {result['error']}", err=True)
    return 1


@notify.command("pending")
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def notify_pending(ctx: click.Context, as_json: bool) -> int:
    """What the outbox still holds: undelivered notifications and pings."""
    from scoot.notify.views import pending_entries, render_pending

    instance = _instance(ctx, create=False)
    entries, bad = pending_entries(instance.home.state)
    if as_json:
        _print_json({"pending": entries, "unreadable": bad})
        return 0
    for line in render_pending(entries, time.time()):
        click.echo(line)
    if bad:
        click.echo(f"scoot: warning: {bad} unreadable file(s) in the outbox", err=True)
    return 0


# -- inspecting --------------------------------------------------------------------
@cli.group()
@home_option
def policy() -> None:
    """Explain policy decisions."""


@policy.command("check")
@home_option
@click.argument("action")
@click.argument("action_input")
@click.option(
    "--mode", default=None, help="readonly, guarded or unrestricted (default: [tools] policy)."
)
@click.option(
    "--cwd",
    default=None,
    help="Working directory to judge paths against (default: the current directory).",
)
@click.pass_context
def policy_check(
    ctx: click.Context, action: str, action_input: str, mode: str | None, cwd: str | None
) -> int:
    """Say whether ACTION with ACTION_INPUT is allowed, and why; runs nothing."""
    from scoot.shared.policy import ProtectedPaths, explain, is_known_mode
    from scoot.supervise.spec import protected_paths, token_files

    instance = _instance(ctx, create=False)
    chosen = mode or instance.config.tools.policy
    if not is_known_mode(chosen):
        raise click.BadParameter(
            f"unknown mode {chosen!r}: use readonly, guarded or unrestricted", param_hint="--mode"
        )
    where = cwd or os.getcwd()
    # The same runtime-directory protection a run gets (its scratch directory aside).
    shielded = protected_paths(
        instance.home,
        where,
        instance.home.scratch / "policy-check",
        token_files(instance.home, instance.config),
    )
    decision = explain(
        action,
        action_input,
        chosen,
        cwd=where,
        confine_writes=instance.config.tools.confine_writes,
        block_internal_http=instance.config.tools.block_internal_http,
        protected=ProtectedPaths(tuple(shielded["paths"]), tuple(shielded["allowed"])),
    )
    verdict = "allow" if decision.allowed else "deny"
    click.echo(f"{verdict}: {decision.reason} (mode={chosen})")
    return 0 if decision.allowed else 1


@cli.group()
@home_option
def sessions() -> None:
    """List recorded sessions."""


@sessions.command("list")
@home_option
@click.pass_context
def sessions_list(ctx: click.Context) -> int:
    """Every session file, newest first."""
    from scoot.cli.views import list_sessions

    instance = _instance(ctx, create=False)
    for line in list_sessions(instance.home):
        click.echo(printable(line))
    return 0


@cli.group()
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

    instance = _instance(ctx, create=False)
    for line in show_session(instance.home, session_id, full=full):
        click.echo(printable(line))
    return 0


@cli.group()
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

    instance = _instance(ctx, create=False)
    lines = audit_lines if as_json else audit_events
    for line in lines(instance.home, session_id):
        sys.stdout.write(printable(line) + "\n")
    return 0


@cli.command()
@click.option(
    "--dir",
    "directory",
    metavar="DIR",
    help="Runtime directory to create (default: a new temp dir).",
)
@click.option(
    "--ticks", type=click.IntRange(min=1), default=8, show_default=True, help="Poll cycles."
)
def demo(directory: str | None, ticks: int) -> int:
    """A guided tour: scripted model, a few jobs, the daemon, and what it recorded."""
    from scoot.cli.demo import run_demo

    return run_demo(directory, ticks)


@cli.command("serve-model")
@click.option("--script", "script_path", required=True, help="JSON script file.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="0 picks a free port.",
)
def serve_model(script_path: str, host: str, port: int) -> int:
    """Serve the scripted OpenAI-compatible model (for tests and dry runs)."""
    from scoot.testing.model_server import serve_forever

    return serve_forever(script_path, host, port)


def _command_path(args: list[str]) -> str:
    words = [a for a in args if not a.startswith("-")][:2]
    return " ".join(["scoot", *words]) if words else "scoot"


def main(argv: list[str] | None = None) -> None:
    """Console entry: one clear line and a non-zero exit for every user error."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Before any token is read: no other process of the user may read this
    # one's memory or environ, open its descriptors or attach to it.
    from scoot.shared.hardening import set_non_dumpable

    set_non_dumpable()
    install_kill_points()
    try:
        result = cli.main(args=args, prog_name="scoot", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message())
        sys.exit(0)
    except click.UsageError as exc:
        message = " ".join(exc.format_message().split()).rstrip(".")
        where = exc.ctx.command_path if exc.ctx is not None else _command_path(args)
        # "Did you mean 'list'?" ends its own sentence; click brackets the one with choices.
        message = re.sub(r"\((Did you mean one of: [^)]*\?)\)$", r"\1", message)
        joiner = " See" if message.endswith("?") else "; see"
        click.echo(f"scoot: {message}{joiner} `{where} --help`", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("scoot: aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"scoot: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except ScootError as exc:
        text = exc.message if exc.message.startswith("[scoot]") else f"scoot: {exc.message}"
        click.echo(text, err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("scoot: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # last line of defence: never a traceback for a user
        if os.environ.get("SCOOT_DEBUG"):
            raise
        click.echo(
            f"scoot: internal error: {type(exc).__name__}: {exc} "
            "(set SCOOT_DEBUG=1 to see the traceback)",
            err=True,
        )
        sys.exit(1)
    from scoot.records.leaving import finish

    finish(result if isinstance(result, int) else 0, console=argv is None)
