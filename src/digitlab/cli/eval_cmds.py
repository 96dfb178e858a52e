"""`digitlab eval`: a trained model measured on a dataset split."""

from __future__ import annotations

from pathlib import Path

import typer

from digitlab.cli.options import DataDir, Dataset, Json, Threads
from digitlab.utils.console import out, print_json


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_(
        model: str = typer.Argument(..., help="A run directory, a model directory, or a shipped model name."),
        split: str = typer.Option("test", "--split", help="test, val or train."),
        ensemble: int = typer.Option(None, "--ensemble", min=1,
                                     help="With `default`: average this many shipped members."),
        dataset: str = Dataset,
        data_dir: Path = DataDir,
        threads: str = Threads,
        json: bool = Json,
    ) -> None:
        """Accuracy, per-class precision/recall/F1, the confusion matrix, the most confident mistakes."""
        from digitlab.api import evaluate
        from digitlab.inference.classifier import load_ensemble
        from digitlab.utils.threads import parse_threads, requested_threads

        requested_threads(parse_threads(threads))  # a bad $DIGITLAB_THREADS fails before the model loads
        target = load_ensemble(ensemble) if ensemble is not None else model
        evaluation = evaluate(target, split=split, dataset=dataset, data_dir=str(data_dir) if data_dir else None,
                              threads=parse_threads(threads))
        if json:
            print_json({"model": model, "split": split, "dataset": dataset, **evaluation.to_json()})
            return
        out.print(evaluation.summary_text())
        out.print(evaluation.confusion_text())
