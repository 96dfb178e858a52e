"""The `digitlab` command. Each sub-command lives in a small module of this package."""

from __future__ import annotations

import sys

import typer

from digitlab.console import err
from digitlab.errors import DigitlabError

app = typer.Typer(
    help="Train, compare, export and serve handwritten-digit recognizers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from digitlab.cli import (
        bench_cmds,
        bench_serve,  # noqa: F401 - adds `bench serve` to bench_cmds.app
        data_cmds,
        export_cmds,
        main_cmd,
        models_cmds,
        predict_cmds,
        serve_cmds,
        train_cmds,
    )

    app.add_typer(data_cmds.app, name="data")
    app.add_typer(bench_cmds.app, name="bench")
    models_cmds.register(app)
    train_cmds.register(app)
    predict_cmds.register(app)
    main_cmd.register(app)
    export_cmds.register(app)
    serve_cmds.register(app)


_register()


def main() -> None:
    """Console-script entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except DigitlabError as e:
        err.print(f"[red]error:[/red] {e}")
        sys.exit(2)
    except OSError as e:  # unwritable --out, full disk, ...: the OS's own words, on one line
        err.print(f"[red]error:[/red] {e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
