"""`demo` and `serve-model`: a guided tour, and the scripted model it and the tests use."""

from __future__ import annotations

import click

from scoot.cli.help import ScootCommand


@click.command(cls=ScootCommand)
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


@click.command("serve-model", cls=ScootCommand)
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
