"""`notify`: test a notification target, show what the outbox still holds."""

from __future__ import annotations

import os
import time

import click

from scoot.cli.common import echo_lines, home_option, instance_of, print_json
from scoot.cli.help import ScootGroup


@click.group(cls=ScootGroup)
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

    instance = instance_of(ctx, create=False)
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

    instance = instance_of(ctx, create=False)
    entries, bad = pending_entries(instance.home.state)
    if as_json:
        print_json({"pending": entries, "unreadable": bad})
        return 0
    echo_lines(render_pending(entries, time.time()))
    if bad:
        click.echo(f"scoot: warning: {bad} unreadable file(s) in the outbox", err=True)
    return 0
