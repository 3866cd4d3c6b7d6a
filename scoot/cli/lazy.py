"""A click group that imports a command's module only when that command is asked for."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

import click

from scoot.cli.help import ScootGroup


class LazyGroup(ScootGroup):
    """A group whose commands live in modules named by `lazy` ("name": "module:attribute").

    Commands added the usual way (`@group.command()`) sit beside them. `scoot schedule
    list` then defines (and imports) the schedule commands alone; `--help`, a misspelt
    command and anything reading `commands` load them all.
    """

    def __init__(self, *args: Any, lazy: Mapping[str, str], **kwargs: Any) -> None:
        self._lazy = dict(lazy)
        self._loaded: MutableMapping[str, click.Command] = {}
        super().__init__(*args, **kwargs)

    @property
    def commands(self) -> MutableMapping[str, click.Command]:
        for name in list(self._lazy):
            self._load(name)
        return self._loaded

    @commands.setter
    def commands(self, value: MutableMapping[str, click.Command]) -> None:
        self._loaded = value

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        # Into the table itself: going through `commands` would load every lazy one.
        # (No chain mode here, so click's check against nesting one has nothing to say.)
        name = name or cmd.name
        if name is None:
            raise TypeError("Command has no name.")
        self._loaded[name] = cmd

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load(cmd_name)
        return self._loaded.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self._loaded, *self._lazy})

    def _load(self, name: str) -> None:
        where = self._lazy.pop(name, None)
        if where is None:
            return
        module, attribute = where.split(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command) or command.name != name:
            raise TypeError(f"{where} is not the command {name!r}")
        self._loaded[name] = command
