"""Command line of scoot.testing: `python -m scoot.testing serve-model --script FILE`."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from scoot.testing.model_server import MAX_PORT, serve_forever


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line and exit 2, like every scoot command."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see --help\n")


def port_number(text: str) -> int:
    """A TCP port, 0 to 65535 (0: any free port); anything else is a usage error."""
    try:
        port = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid port {text!r}: use a number from 0 to 65535"
        ) from None
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"invalid port {port}: use a number from 0 to 65535")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m scoot.testing", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    serve = commands.add_parser(
        "serve-model",
        help="serve a scripted OpenAI-compatible model on loopback",
        description="Serve a scripted OpenAI-compatible model until SIGTERM or SIGINT.",
    )
    serve.add_argument("--script", required=True, help="JSON script file (docs/scripted-model.md)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument(
        "--port", type=port_number, default=0, help="port to listen on (0 = any free port)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    return serve_forever(arguments.script, arguments.host, arguments.port)


if __name__ == "__main__":
    sys.exit(main())
