"""A run's report: report.md for people, report.json for programs, and three PNGs.

Everything is written atomically into the run directory, the figures first and report.md last, so a
report.md on disk always links figures that exist.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.errors import DataError
from digitlab.metrics import plots
from digitlab.metrics.evaluation import Evaluation
from digitlab.utils.fileio import atomic_write_json, atomic_write_text
from digitlab.utils.jsonable import plain

FIGURES = {"curves": "curves.png", "confusion": "confusion.png", "errors": "errors.png"}
EPOCH_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")
SUMMARY_LABELS = {  # summary keys shown first, in this order; any other key follows under its own name
    "model": "Model",
    "recipe": "Recipe",
    "dataset": "Dataset",
    "device": "Device",
    "epochs": "Epochs",
    "epochs_run": "Epochs",
    "best_val_acc": "Best validation accuracy",
    "best_val_epoch": "Best validation epoch",
    "test_acc": "Test accuracy",
    "test_loss": "Test loss",
    "train_seconds": "Training time",
    "time_to_target_s": "Time to target",
}
TARGET_KEYS = ("target_acc", "epoch_to_target", "seconds_to_target")
MISTAKES_IN_TEXT = 10


def write_report(run_dir: str | os.PathLike, *, title: str, config: dict, history: list[dict],
                 evaluation: Evaluation, images: np.ndarray, summary: dict, notes: Sequence[str] = (),
                 extra_plots: dict | None = None) -> dict:
    """Write report.md, report.json, curves.png, confusion.png and errors.png into ``run_dir``.

    ``history`` has one dict per epoch ({"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"};
    val_* may be None; extra keys become extra columns). ``images`` are the evaluated uint8 (N, 28, 28) images,
    indexed by ``evaluation.mistakes``. Missing summary entries are filled from the history and the evaluation
    (see ``complete_summary``). ``extra_plots`` maps a caption to a matplotlib Figure (saved as <caption>.png)
    or to an existing PNG path. Returns the report.json document.
    """
    run_dir = Path(run_dir)
    images = np.asarray(images)
    if evaluation.mistakes and (images.ndim != 3 or len(images) <= max(m["index"] for m in evaluation.mistakes)):
        raise DataError(f"images of shape {images.shape} do not cover the {evaluation.n} evaluated examples")
    summary = complete_summary(summary, history, evaluation)

    if history:
        plots.training_curves(history, run_dir / FIGURES["curves"], title=title)
    else:
        plots.placeholder("no training history", run_dir / FIGURES["curves"])
    plots.confusion_heatmap(evaluation.confusion, evaluation.classes, run_dir / FIGURES["confusion"],
                            title=f"{summary['eval_split']} accuracy {evaluation.accuracy:.2%} (n={evaluation.n})")
    _error_gallery(evaluation, images, run_dir / FIGURES["errors"])
    figures = {name: file for name, file in FIGURES.items()}
    figures.update(_extra_figures(extra_plots or {}, run_dir))

    doc = plain({
        "title": title,
        "summary": summary,
        "notes": list(notes),
        "config": config,
        "history": history,
        "evaluation": evaluation.to_json(),
        "figures": figures,
    })
    atomic_write_json(run_dir / "report.json", doc)
    atomic_write_text(run_dir / "report.md", render_markdown(doc, evaluation))
    return doc


def complete_summary(summary: dict, history: list[dict], evaluation: Evaluation) -> dict:
    """A copy of ``summary`` with what the history and evaluation can supply filled in where absent:
    eval_split ("test"), epochs (unless epochs_run is given), best_val_acc/best_val_epoch, train_seconds,
    test_acc/test_loss (when eval_split is "test") and, given target_acc, epoch_to_target and
    seconds_to_target (validation accuracy, cumulative epoch seconds; None when never reached)."""
    out = dict(summary)
    out.setdefault("eval_split", "test")
    if history:
        if "epochs_run" not in out:
            out.setdefault("epochs", len(history))
        val = [(h["val_acc"], h["epoch"]) for h in history if h.get("val_acc") is not None]
        if val:
            best_acc, best_epoch = max(val, key=lambda pair: pair[0])  # max keeps the first best epoch
            out.setdefault("best_val_acc", best_acc)
            out.setdefault("best_val_epoch", best_epoch)
        seconds = [h.get("seconds") for h in history]
        if all(s is not None for s in seconds):
            out.setdefault("train_seconds", float(sum(seconds)))
    if out["eval_split"] == "test":
        out.setdefault("test_acc", evaluation.accuracy)
        out.setdefault("test_loss", evaluation.loss)
    if out.get("target_acc") is not None and "seconds_to_target" not in out:
        out["epoch_to_target"], out["seconds_to_target"] = _time_to_target(history, out["target_acc"])
    return out


def _time_to_target(history: list[dict], target: float) -> tuple[Any, float | None]:
    elapsed = 0.0
    for h in history:
        elapsed += h.get("seconds") or 0.0
        if h.get("val_acc") is not None and h["val_acc"] >= target:
            return h["epoch"], elapsed
    return None, None


def _error_gallery(evaluation: Evaluation, images: np.ndarray, path: Path) -> None:
    if not evaluation.mistakes:
        plots.placeholder(f"no mistakes on {evaluation.n} images", path)
        return
    names = evaluation.classes
    # Long class names (Fashion-MNIST's "Ankle boot") get a line each so neighbouring titles do not collide.
    joiner = "\n" if max(len(n) for n in names) > 3 else " / "
    titles = [f"true {names[m['true']]}{joiner}pred {names[m['pred']]}\n(p={m['confidence']:.3f})"
              for m in evaluation.mistakes]
    shown, total = len(titles), evaluation.errors
    heading = f"All {total} mistakes" if shown == total else f"The {shown} most confident of {total} mistakes"
    plots.digit_grid(images[[m["index"] for m in evaluation.mistakes]], titles, path,
                     suptitle=heading + ", most confident first")


def _extra_figures(extra_plots: dict, run_dir: Path) -> dict[str, str]:
    figures = {}
    for caption, value in extra_plots.items():
        if isinstance(value, plots.plt.Figure):
            file = re.sub(r"[^A-Za-z0-9_-]+", "_", str(caption)).strip("_").lower() + ".png"
            plots.save_figure(value, run_dir / file)
            figures[caption] = file
        else:
            path = Path(value) if Path(value).is_absolute() else run_dir / value
            if not path.is_file():
                raise DataError(f"extra plot {caption!r}: {path} does not exist")
            figures[caption] = os.path.relpath(path, run_dir)
    return figures


def render_markdown(doc: dict, evaluation: Evaluation) -> str:
    """report.md from the report.json document (plus the Evaluation for its text tables)."""
    summary, history = doc["summary"], doc["history"]
    lines = [f"# {doc['title']}", "", "| | |", "|---|---|"]
    lines += [f"| {label} | {_cell(value)} |" for label, value in _summary_rows(summary)]
    lines.append("")
    if doc["notes"]:
        lines += [f"- {note}" for note in doc["notes"]] + [""]

    lines += ["## Training", "", "![loss and accuracy per epoch](curves.png)", ""]
    if history:
        columns = list(EPOCH_COLUMNS) + [k for k in dict.fromkeys(k for h in history for k in h)
                                         if k not in EPOCH_COLUMNS]
        lines.append("| " + " | ".join(c.replace("_", " ") for c in columns) + " |")
        lines.append("|" + "---:|" * len(columns))
        lines += ["| " + " | ".join(_format(c, h.get(c)) for c in columns) + " |" for h in history]
    else:
        lines.append("No epochs recorded.")
    lines.append("")

    lines += [f"## Evaluation ({summary['eval_split']} split, {evaluation.n} images)", "",
              f"Accuracy **{evaluation.accuracy:.2%}** ({evaluation.errors} errors), "
              f"macro F1 {evaluation.macro_f1:.4f}, loss {_format('loss', evaluation.loss)}.", "",
              "| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {_cell(r['class'])} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
              for r in evaluation.per_class]
    lines += ["", "### Confusion matrix (rows = true, columns = predicted)", "", "```",
              evaluation.confusion_text(), "```", "", "![confusion matrix](confusion.png)", ""]

    lines += ["### Most confident mistakes", ""]
    if evaluation.mistakes:
        shown = evaluation.mistakes[:MISTAKES_IN_TEXT]
        lines += ["| index | true | predicted | confidence |", "|---:|---|---|---:|"]
        lines += [f"| {m['index']} | {_cell(evaluation.classes[m['true']])} | {_cell(evaluation.classes[m['pred']])}"
                  f" | {m['confidence']:.3f} |" for m in shown]
        lines.append("")
    else:
        lines += ["None: every image was classified correctly.", ""]
    lines += ["![most confident mistakes](errors.png)", ""]

    extra = {k: v for k, v in doc["figures"].items() if k not in FIGURES}
    if extra:
        lines += ["## More figures", ""] + [f"![{caption}]({file})" for caption, file in extra.items()] + [""]
    lines += ["## Configuration", "", "```json", json.dumps(doc["config"], indent=2), "```", ""]
    return "\n".join(lines)


def _summary_rows(summary: dict) -> list[tuple[str, str]]:
    # A None (no target asked, no validation split) says nothing a missing row does not.
    rows = [(label, _format(key, summary[key])) for key, label in SUMMARY_LABELS.items()
            if summary.get(key) is not None]
    if summary.get("target_acc") is not None:
        target = f"Time to {summary['target_acc']:.2%} validation accuracy"
        if summary.get("seconds_to_target") is None:
            rows.append((target, "not reached"))
        else:
            epoch = summary.get("epoch_to_target")
            rows.append((target, f"{summary['seconds_to_target']:.1f} s"
                                 + (f" (epoch {epoch})" if epoch is not None else "")))
    skip = set(SUMMARY_LABELS) | set(TARGET_KEYS) | {"eval_split"}
    rows += [(key.replace("_", " "), _format(key, value)) for key, value in summary.items()
             if key not in skip and value is not None]
    return rows


def _format(key: str, value: Any) -> str:
    """One value for a table cell; accuracies as percentages and durations in seconds, chosen by key name."""
    if value is None:
        return "–"
    if isinstance(value, bool) or isinstance(value, str):
        return _cell(str(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return str(value)
        if "acc" in key.split("_") or key.endswith("accuracy"):
            return f"{value:.2%}"
        if "seconds" in key or key.endswith("_s"):
            return f"{value:.1f} s"
        if "loss" in key:
            return f"{value:.4f}"
        return f"{value:.4g}"
    return _cell(json.dumps(plain(value)))


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
