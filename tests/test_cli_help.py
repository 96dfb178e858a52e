"""Every option and argument of every `digitlab` command has help text, and that help names its default.

pytorch/examples' style: a reader of `digitlab CMD --help` learns what each flag does and what it is when left
out. typer appends ``[default: X]`` to an option with a default value (unless ``show_default=False``), so the
check reads the help line as `--help` prints it. Commands are loaded through the lazy CLI's own tables
(cli/__init__.py ``COMMANDS``, cli/bench_cmds.py ``BENCHMARKS``), so a new command is covered when it is listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer

from digitlab.cli import COMMANDS, app
from digitlab.cli.bench_cmds import BENCHMARKS

# (command path, parameter name) -> why its help need not show the default. Bool flags (--json, --check) and
# empty defaults ("", [], (): nothing given) need no entry.
NO_DEFAULT_SHOWN: dict[tuple[str, str], str] = {}

COMMAND_PATHS = [name for name in COMMANDS if name != "bench"] + [f"bench {name}" for name in BENCHMARKS]


def leaf_commands(path: str) -> Iterator[tuple[str, Any, typer.Context]]:
    """(full path, click command, its context) for ``path`` and, where it is a group, each of its commands."""
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="digitlab")
    command = root
    for part in path.split():
        command = command.get_command(ctx, part)
        assert command is not None, f"{path}: {part!r} is listed but does not load"
        ctx = typer.Context(command, info_name=part, parent=ctx)
    yield from _walk(path, command, ctx)


def _walk(path: str, command: Any, ctx: typer.Context) -> Iterator[tuple[str, Any, typer.Context]]:
    yield path, command, ctx
    if hasattr(command, "list_commands"):  # a group (`digitlab data`): its own options, then each command
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from _walk(f"{path} {name}", sub, typer.Context(sub, info_name=name, parent=ctx))


def problems(path: str, command: Any, ctx: typer.Context) -> list[str]:
    """What is wrong with the help of ``command``'s parameters, one line each (empty: nothing)."""
    found = []
    for param in command.get_params(ctx):
        label = "/".join(param.opts) if param.param_type_name == "option" else param.name.upper()
        if not (getattr(param, "help", None) or "").strip():
            found.append(f"{path} {label}: no help text")
            continue
        record = param.get_help_record(ctx)
        shown = record[1] if record else ""
        default = param.default
        if (default is None or callable(default) or getattr(param, "is_flag", False)
                or default in ("", [], ()) or (path, param.name) in NO_DEFAULT_SHOWN):
            continue
        if "default" not in shown.lower() or str(default).lower() not in shown.lower():
            found.append(f"{path} {label}: the help does not name its default {default!r} ({shown!r})")
    return found


def test_root_options_have_help():
    root = typer.main.get_command(app)
    assert problems("digitlab", root, typer.Context(root, info_name="digitlab")) == []
    assert {"--version", "--help"} <= {opt for p in root.get_params(typer.Context(root)) for opt in p.opts}


@pytest.mark.parametrize("path", COMMAND_PATHS)
def test_every_parameter_has_help_naming_its_default(path):
    found = [line for leaf in leaf_commands(path) for line in problems(*leaf)]
    assert found == [], "\n".join(found)


def test_the_check_finds_a_missing_help_and_a_hidden_default():
    """The rule itself: a parameter without help, and a default the help hides, are both reported."""
    probe = typer.Typer()

    @probe.command()
    def cmd(quiet: int = typer.Option(3, "--quiet"),
            hidden: int = typer.Option(7, "--hidden", help="Some number.", show_default=False),
            named: int = typer.Option(7, "--named", help="Some number (default: 7).", show_default=False),
            shown: int = typer.Option(7, "--shown", help="Some number."),
            flag: bool = typer.Option(False, "--flag", help="A switch."),
            optional: str = typer.Option(None, "--optional", help="Left out: nothing.")) -> None:
        """A probe."""

    command = typer.main.get_command(probe)
    found = problems("probe", command, typer.Context(command, info_name="probe"))
    assert found == ["probe --quiet: no help text",
                     "probe --hidden: the help does not name its default 7 ('Some number.')"]


def test_every_listed_command_is_covered():
    covered = {p.split()[0] for p in COMMAND_PATHS} | {"bench"}
    assert covered == set(COMMANDS)
    assert {p.split()[1] for p in COMMAND_PATHS if p.startswith("bench ")} == set(BENCHMARKS)
