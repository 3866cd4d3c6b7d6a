"""`policy check`: whether an action would be allowed, and why; runs nothing."""

from __future__ import annotations

import os

import click

from scoot.cli.common import home_option, instance_of
from scoot.cli.help import ScootGroup


@click.group(cls=ScootGroup)
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

    instance = instance_of(ctx, create=False)
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
