"""`digitlab main`: the job `make run` runs -- fetch MNIST, train the default CNN, report."""

from __future__ import annotations

import typer

from digitlab.utils.console import err, out


def register(app: typer.Typer) -> None:
    @app.command(hidden=True)
    def main(run_dir: str = typer.Option(None, "--run-dir",
                                         help="Where to write the run (default: runs/STAMP-cnn).")) -> None:
        """Fetch MNIST, train the default `cnn` recipe on the CPU, evaluate it, and write the report.

        Two epochs rather than the recipe's one: one epoch lands at 98.95-99.15% depending on the seed and
        the thread count, and the main job must clear 99% on any 2-core machine.
        """
        from pathlib import Path

        from digitlab.cli.options import progress_printer
        from digitlab.data.datasets import resolve
        from digitlab.training.recipes import get_recipe
        from digitlab.training.run import RunOptions, run_training

        directory, source, _, _ = resolve("mnist", progress=progress_printer(False))
        err.print(f"MNIST ready in {directory} (source: {source}); training the cnn recipe (2 epochs) on the CPU")
        recipe = get_recipe("cnn").override(epochs=2)
        result = run_training(recipe, RunOptions(device="cpu"), Path(run_dir) if run_dir else None,
                              show_progress=True)
        ev = result.evaluation
        out.print(f"\n[bold]cnn[/bold]: test accuracy [bold]{result.test_acc:.2%}[/bold] "
                  f"({ev.n - int(round(ev.accuracy * ev.n))} errors in {ev.n}), "
                  f"trained in {result.train_seconds:.1f} s")
        out.print(f"report: {result.run_dir / 'report.md'}  (curves.png, confusion.png, errors.png beside it)")
        out.print("next: `digitlab models`, `digitlab recipes`, `digitlab train --recipe seed-001`, "
                  f"`digitlab eval {result.run_dir}`")
