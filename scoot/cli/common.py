"""What every command module shares: the global `--scoot-home`, the instance, JSON and text out."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from scoot.instance.open import Instance

HOME_KEY = "scoot_home"
Decorated = TypeVar("Decorated", bound=Callable[..., Any])


def _remember_home(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.find_root().meta[HOME_KEY] = value


def home_option(func: Decorated) -> Decorated:
    """`--scoot-home` is global: accepted before or after the command."""
    return click.option(
        "--scoot-home",
        metavar="DIR",
        expose_value=False,
        is_eager=True,
        callback=_remember_home,
        help="Runtime directory (default: $SCOOT_HOME, else ~/.scoot).",
    )(func)


def home_of(ctx: click.Context) -> str | None:
    home: str | None = ctx.find_root().meta.get(HOME_KEY)
    return home


def instance_of(ctx: click.Context, *, create: bool = True, long_lived: bool = False) -> Instance:
    from scoot.instance.open import open_instance, print_warnings

    instance = open_instance(home_of(ctx), create=create, long_lived=long_lived)
    print_warnings(instance.warnings)
    return instance


def print_json(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def echo_lines(lines: Iterable[str], *, err: bool = False) -> None:
    """Lines as one write: thousands of rows cost one echo, not one each.

    click strips ANSI escapes per call when the stream is no terminal; its pattern
    never spans a newline, so one call over the joined lines strips the same.
    """
    shown = list(lines)
    if shown:
        click.echo("\n".join(shown), err=err)
