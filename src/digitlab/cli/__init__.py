"""The `digitlab` command. Each sub-command lives in a small module of this package.

Start-up is lazy: `digitlab --help` lists the commands from the table below without importing them, and
running one imports only its own module (so `digitlab predict` never imports the service, and a core install
without extras runs every command that does not need one).
"""

from __future__ import annotations

import gc
import sys

import typer

from digitlab import __version__
from digitlab.cli.lazy import LazyGroup
from digitlab.errors import DigitlabError

# name: (module that defines it, one-line help for the listing); see cli/lazy.py.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("digitlab.cli.data_cmds", "Fetch, inspect and export datasets."),
    "models": ("digitlab.cli.models_cmds",
               "The model zoo: parameters, MACs per image, the seed each reproduces and its published figure."),
    "recipes": ("digitlab.cli.models_cmds",
                "Named recipes (`digitlab train --recipe NAME`): the seeds' exact settings and digitlab's own."),
    "train": ("digitlab.cli.train_cmds",
              "Train a model by its default recipe or a named one; write a run directory with a report."),
    "eval": ("digitlab.cli.eval_cmds",
             "Accuracy, per-class F1, confusion, the most confident mistakes, calibration (ECE) and risk-coverage."),
    "calibrate": ("digitlab.cli.calibrate_cmds",
                  "Fit a model's temperature on the validation split so its probabilities mean what they say."),
    "predict": ("digitlab.cli.predict_cmds",
                "Read the digit(s) in each input; one clear error line per unreadable input, exit 2 if any failed."),
    "export": ("digitlab.cli.export_cmds",
               "Export a trained model for deployment: TorchScript (C++), ONNX, int8 ONNX, or integer-only C99."),
    "import-state-dict": ("digitlab.cli.export_cmds", "Load a seed-style state_dict (weights_only: tensors only, "
                          "nothing else is unpickled) as a digitlab model."),
    "serve": ("digitlab.cli.serve_cmds",
              "Serve the recognizer over HTTP: POST /v1/recognize, /v1/recognize/batch, /v1/classify; the page at /."),
    "bench": ("digitlab.cli.bench_cmds",
              "Benchmarks: each figure is a ratio against a baseline measured in the same run."),
    "sweep": ("digitlab.cli.sweep_cmds",
              "Search a recipe's hyper-parameters on Optuna (TPE, median pruning); write the best as a recipe file."),
    "main": ("digitlab.cli.main_cmd",
             "Fetch MNIST, train the default `cnn` recipe on the CPU, evaluate it, and write the report."),
}


class RootGroup(LazyGroup):
    table = COMMANDS
    unlisted = frozenset({"main"})  # what `make run` runs; not listed


def _print_version(value: bool) -> None:
    if value:
        print(f"digitlab {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=RootGroup,
    help="Train, compare, export and serve handwritten-digit recognizers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: importing rich's help renderer costs more than the whole listing
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print digitlab's version and exit."),
) -> None:
    """Train, compare, export and serve handwritten-digit recognizers."""


def main() -> None:
    """Console-script entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except DigitlabError as e:
        _fail(str(e))
    except OSError as e:  # unwritable --out, full disk, ...: the OS's own words, on one line
        _fail((e.strerror or str(e)) + (f": {e.filename}" if e.filename else ""))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        # The process ends now: leave its objects to the interpreter's teardown without the garbage collector
        # traversing them all first (0.15 s of a 1 s `digitlab predict`, measured; refcounts still free them).
        gc.freeze()


def _fail(message: str) -> None:
    from rich.markup import escape

    from digitlab.utils.console import err

    err.print(f"[red]error:[/red] {escape(message)}")  # escaped: 'digitlab[serve]' is not markup
    sys.exit(2)
