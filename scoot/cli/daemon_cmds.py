"""`daemon`: run the scheduler as a long-lived daemon, check on it, stop it."""

from __future__ import annotations

import click

from scoot.cli.common import echo_lines, home_of, home_option, instance_of, print_json
from scoot.cli.help import ScootGroup


@click.group(cls=ScootGroup)
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

    return daemon_run(instance_of(ctx, long_lived=not ticks), ticks=ticks, home_option=home_of(ctx))


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

    home = resolve_home(home_of(ctx))
    report = status_report(home)
    if as_json:
        print_json(report)
    else:
        echo_lines(render_status(report))
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
        resolve_home(home_of(ctx)), wait=wait, timeout_sec=timeout, progress=click.echo
    )
    click.echo(f"[scoot] {message}")
    return code
