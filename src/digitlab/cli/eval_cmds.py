"""`digitlab eval`: a trained model measured on a dataset split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from digitlab.cli.options import DataDir, Dataset, Json, Threads
from digitlab.utils.console import out, print_json

RELIABILITY_PNG = "reliability.png"
RISK_COVERAGE_PNG = "risk_coverage.png"


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_(
        model: str = typer.Argument(..., help="A run directory, a model directory, or a shipped model name."),
        split: str = typer.Option("test", "--split", help="test, val or train."),
        ensemble: int = typer.Option(None, "--ensemble", min=1,
                                     help="With `default`: average this many shipped members."),
        plots: Path = typer.Option(None, "--plots", file_okay=False,
                                   help=f"Write {RELIABILITY_PNG} and {RISK_COVERAGE_PNG} into this directory "
                                        "(default: no files written)."),
        dataset: str = Dataset,
        data_dir: Path = DataDir,
        threads: str = Threads,
        json: bool = Json,
    ) -> None:
        """Accuracy, per-class F1, confusion, the most confident mistakes, calibration (ECE) and risk-coverage."""
        from digitlab.api import evaluate, load
        from digitlab.inference.classifier import load_ensemble
        from digitlab.utils.threads import parse_threads, requested_threads

        requested_threads(parse_threads(threads))  # a bad $DIGITLAB_THREADS fails before the model loads
        target = load_ensemble(ensemble) if ensemble is not None else load(model)
        evaluation = evaluate(target, split=split, dataset=dataset, data_dir=str(data_dir) if data_dir else None,
                              threads=parse_threads(threads))
        written = write_plots(evaluation, plots, f"{model} on {dataset} {split}") if plots is not None else []
        calibration = calibration_note(target)
        if json:
            print_json({"model": model, "split": split, "dataset": dataset, "calibration": calibration,
                        **evaluation.to_json(), "plots": [str(p) for p in written]})
            return
        out.print(evaluation.summary_text())
        out.print(f"probabilities: {describe(calibration)}")
        out.print(evaluation.confusion_text())
        for path in written:
            out.print(f"wrote {path}")


def calibration_note(model: Any) -> list[dict] | dict | None:
    """The calibration entry of model.json (a list, one per member, for an ensemble; None: uncalibrated)."""
    members = getattr(model, "members", None)
    if members is not None:
        return [m.meta.get("calibration") for m in members]
    return model.meta.get("calibration")


def describe(note: list[dict] | dict | None) -> str:
    """One line: which temperature the probabilities were divided by, or that they are the network's own."""
    if isinstance(note, list):
        parts = [describe(n) for n in note]
        return "mean of the members' (" + "; ".join(parts) + ")"
    if not note:
        return "uncalibrated (no temperature in model.json; `digitlab calibrate MODEL` fits one)"
    return f"temperature {note['temperature']:.4g} fitted on {note.get('fitted_on', '?')} ({note.get('n', '?')} images)"


def write_plots(evaluation: Any, directory: Path, title: str) -> list[Path]:
    """The reliability diagram and the risk-coverage curve of ``evaluation`` as PNGs in ``directory``."""
    from digitlab.metrics.plots import reliability_diagram, risk_coverage_plot

    summary = evaluation.calibration
    directory.mkdir(parents=True, exist_ok=True)
    reliability_diagram(summary.bins, directory / RELIABILITY_PNG, f"reliability: {title}", summary.ece)
    risk_coverage_plot(summary.coverage, summary.accuracy, directory / RISK_COVERAGE_PNG,
                       f"risk-coverage: {title}", summary.target)
    return [directory / RELIABILITY_PNG, directory / RISK_COVERAGE_PNG]
