"""`setup`, `config` (and `config check`) and `doctor`: making a runtime directory and checking it."""

from __future__ import annotations

from typing import Any

import click

from scoot.cli.common import echo_lines, home_of, home_option, instance_of, print_json
from scoot.cli.help import ScootCommand, ScootGroup
from scoot.instance.config import BackendConfig


@click.command(cls=ScootCommand)
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
def setup(ctx: click.Context, /, **options: Any) -> int:
    """Provision a runtime directory and write its config.toml."""
    from scoot.cli.setup import run_setup

    return run_setup(home_of(ctx), options)


@click.group("config", cls=ScootGroup, invoke_without_command=True)
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def config_cmd(ctx: click.Context, as_json: bool) -> int | None:
    """Show the resolved runtime directory, config file and every effective value."""
    if ctx.invoked_subcommand is not None:
        return None
    from scoot.cli.doctor import config_report, render_config
    from scoot.instance.open import print_warnings

    instance = instance_of(ctx)
    report = config_report(instance)
    # The home and config warnings were printed on loading; a refused token file was not.
    print_warnings(report["token_warnings"])
    if as_json:
        print_json(report)
    else:
        echo_lines(render_config(report))
    return 0


@config_cmd.command("check")
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def config_check_cmd(ctx: click.Context, as_json: bool) -> int:
    """Lint the config: exit 0 clean, 1 an invalid job or unknown key, 2 unreadable."""
    from scoot.cli.config_check import check_config, render_check

    report = check_config(home_of(ctx))
    if as_json:
        print_json(report)
    else:
        echo_lines(render_check(report))
    return 1 if report["problems"] else 0


@click.command(cls=ScootCommand)
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

    checks = run_doctor(home_of(ctx), offline=offline, backend_timeout_sec=backend_timeout)
    if as_json:
        print_json(checks)
    else:
        echo_lines(render_doctor(checks))
    return 1 if checks["failures"] else 0
