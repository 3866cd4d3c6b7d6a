"""`--help` for every command: its summary never cut, its defaults, and a few examples."""

from __future__ import annotations

import inspect

import click

# Examples per command path (the words after `scoot`); `--help` prints them last.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        'scoot -e "how full is the disk?"',
        'scoot --trace -e "list the five largest files here"',
        "scoot schedule list",
    ),
    "setup": (
        "scoot setup",
        "scoot setup --non-interactive --base-url http://127.0.0.1:11434/v1 --model qwen2.5",
    ),
    "config": ("scoot config", "scoot config --json", "scoot config check"),
    "config check": ("scoot config check", "scoot --scoot-home /srv/scoot config check --json"),
    "doctor": ("scoot doctor", "scoot doctor --offline", "scoot doctor --backend-timeout 2 --json"),
    "schedule": ("scoot schedule list", "scoot schedule run --ticks 1"),
    "schedule list": ("scoot schedule list", "scoot schedule list --json"),
    "schedule run": ("scoot schedule run", "scoot schedule run --ticks 1"),
    "schedule trigger": ("scoot schedule trigger disk-check",),
    "schedule history": (
        "scoot schedule history",
        "scoot schedule history disk-check --limit 5",
        "scoot schedule history --json",
    ),
    "notify": ("scoot notify pending", "scoot notify test ops"),
    "notify test": ("scoot notify test ops",),
    "notify pending": ("scoot notify pending", "scoot notify pending --json"),
    "schedule last": ("scoot schedule last disk-check", "scoot schedule last disk-check --json"),
    "report": (
        "scoot report --html report.html",
        "scoot report --html /var/www/scoot.html --days 30",
    ),
    "schedule next": (
        "scoot schedule next",
        "scoot schedule next disk-check --count 10",
        "scoot schedule next --from 2027-03-28T00:00:00Z --json",
    ),
    "schedule pause": (
        "scoot schedule pause disk-check --reason 'disk swap tonight'",
        "scoot schedule pause disk-check --until 2027-01-01T09:00:00Z",
    ),
    "schedule resume": ("scoot schedule resume disk-check",),
    "schedule export": (
        "scoot schedule export --format systemd --out ./units",
        "scoot schedule export --format kubernetes --image registry.example/scoot:1",
    ),
    "daemon": ("scoot daemon run", "scoot daemon status", "scoot daemon stop --wait"),
    "daemon run": ("scoot daemon run", "scoot daemon run --ticks 3"),
    "daemon status": ("scoot daemon status", "scoot daemon status --json"),
    "daemon stop": ("scoot daemon stop", "scoot daemon stop --wait --timeout 30"),
    "policy": ('scoot policy check bash "rm -rf /" --mode guarded',),
    "policy check": (
        'scoot policy check bash "ls -la" --mode readonly',
        "scoot policy check file_read /etc/shadow",
    ),
    "sessions": ("scoot sessions list",),
    "sessions list": ("scoot sessions list",),
    "session": ("scoot session show job-disk-check",),
    "session show": (
        "scoot session show job-disk-check",
        "scoot session show job-disk-check --full",
    ),
    "audit": ("scoot audit show job-disk-check",),
    "audit show": (
        "scoot audit show",
        "scoot audit show job-disk-check",
        "scoot audit show job-disk-check --json",
    ),
    "demo": ("scoot demo", "scoot demo --dir ./tour --ticks 4"),
    "serve-model": ("scoot serve-model --script ci/model.json --port 8089",),
}


def command_key(ctx: click.Context) -> str:
    """The words after `scoot` that name this command: "schedule run"."""
    names: list[str] = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def full_summary(command: click.Command) -> str:
    """The first paragraph of the docstring, whole: listings wrap it, never cut it."""
    if command.short_help:
        return inspect.cleandoc(command.short_help)
    text = inspect.cleandoc(command.help or "")
    return " ".join(text.split("\n\n", 1)[0].split())


def write_examples(ctx: click.Context, formatter: click.HelpFormatter) -> None:
    examples = EXAMPLES.get(command_key(ctx))
    if not examples:
        return
    with formatter.section("Examples"):
        for line in examples:
            formatter.write(f"{' ' * formatter.current_indent}{line}\n")


class ScootCommand(click.Command):
    def get_short_help_str(self, limit: int = 45) -> str:
        return full_summary(self)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        write_examples(ctx, formatter)


class ScootGroup(click.Group):
    command_class = ScootCommand
    group_class = type  # subgroups are ScootGroups too

    def get_short_help_str(self, limit: int = 45) -> str:
        return full_summary(self)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        write_examples(ctx, formatter)
