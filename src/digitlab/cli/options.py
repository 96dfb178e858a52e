"""Options shared by several commands, so each is spelled and documented once.

Every option's help says what it does and its default, as pytorch/examples does: typer appends
``[default: X]`` to options with a default value; an option whose default is None says in its own words
what happens when it is left out. tests/test_cli_help.py checks every command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

Dataset = typer.Option("mnist", "--dataset", "-d",
                       help="mnist, fashion-mnist, mnist-pieces, or idx:DIR (any IDX directory).")
DataDir = typer.Option(None, "--data-dir", file_okay=False,
                       help="Data cache directory (default: $DIGITLAB_DATA, else ~/.cache/digitlab).")
Json = typer.Option(False, "--json", help="Print one JSON document to stdout and nothing else.")
Threads = typer.Option("auto", "--threads", help="Intra-op threads: a number, or auto: one for small steps, else "
                       "one per free CPU; $DIGITLAB_THREADS sets it too.")


def progress_printer(json_mode: bool) -> Callable[[str], None]:
    """A progress callback for long steps: a dim line on stderr, silent under --json."""
    from digitlab.utils.console import err

    if json_mode:
        return lambda _msg: None
    return lambda msg: err.print(f"[dim]{msg}[/dim]")


__all__ = ["Dataset", "DataDir", "Json", "Threads", "progress_printer", "Path"]
