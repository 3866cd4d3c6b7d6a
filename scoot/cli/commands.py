"""The `scoot` command: the root group, `-e`, and the one error boundary of every command.

Each command group lives in its own module (COMMANDS names them); a command
imports its module, and what that module's functions import, when it runs.
"""

from __future__ import annotations

import os
import re
import sys

import click

from scoot import __version__
from scoot.cli.common import home_option, instance_of
from scoot.cli.lazy import LazyGroup
from scoot.errors import EXIT_USAGE, ScootError

# Each top-level command and the module:attribute that defines it.
COMMANDS = {
    "setup": "scoot.cli.setup_cmds:setup",
    "config": "scoot.cli.setup_cmds:config_cmd",
    "doctor": "scoot.cli.setup_cmds:doctor",
    "schedule": "scoot.cli.schedule_cmds:schedule",
    "report": "scoot.cli.records_cmds:report_cmd",
    "sessions": "scoot.cli.records_cmds:sessions",
    "session": "scoot.cli.records_cmds:session",
    "audit": "scoot.cli.records_cmds:audit",
    "daemon": "scoot.cli.daemon_cmds:daemon",
    "notify": "scoot.cli.notify_cmds:notify",
    "policy": "scoot.cli.policy_cmds:policy",
    "demo": "scoot.cli.tour_cmds:demo",
    "serve-model": "scoot.cli.tour_cmds:serve_model",
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
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
        instance_of(ctx),
        goal,
        trace=trace,
        retries=retries,
        session_id=session_id,
        policy=policy,
        unattended=unattended,
        timeout_sec=timeout_sec,
    )


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
    from scoot.records.killpoints import install_from_env as install_kill_points

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
