"""Command groups whose commands are imported when they run, not when `--help` lists them.

Each group has a table: command name -> (the module that defines it, the one-line help for the listing).
A module defines its commands in one of two ways, both plain typer:
- ``register(app)``: adds its commands to the Typer app it is given (train, predict, ...);
- a module-level ``app`` Typer its commands are decorated on: the whole ``app`` is then one sub-group
  (``digitlab data``), or, where the group has a ``registry`` (``digitlab bench``), modules decorate their
  commands on that shared app when imported.
tests/test_cli_lazy.py checks every table line against the command's own help, so the two cannot drift.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperGroup


def load_command(name: str, module_name: str, registry: Callable[[], typer.Typer] | None = None) -> Any:
    """Import ``module_name`` and return its command ``name`` as a click command."""
    module = importlib.import_module(module_name)
    if registry is not None:  # the module decorated its command on a shared Typer app
        holder = registry()
    elif hasattr(module, "register"):
        holder = typer.Typer()
        module.register(holder)
    else:  # the module's app is a whole sub-group
        return typer.main.get_command(module.app)
    return typer.main.get_group(holder).commands[name]


class LazyGroup(TyperGroup):
    """A group listing ``table`` without imports; subclasses set ``table`` (and ``registry``, ``unlisted``)."""

    table: dict[str, tuple[str, str]] = {}
    unlisted: frozenset[str] = frozenset()
    registry: Callable[[], typer.Typer] | None = None

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [name for name in self.table if name not in self.unlisted]

    def get_command(self, ctx: typer.Context, name: str) -> Any:
        if name not in self.table:
            return None
        command = load_command(name, self.table[name][0], type(self).registry)
        command.hidden = name in self.unlisted
        return command

    def format_commands(self, ctx: typer.Context, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, self.table[name][1]) for name in self.list_commands(ctx)])
