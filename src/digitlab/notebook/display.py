"""What results look like in Jupyter: HTML tables and PNG figures for TrainResult, Evaluation and Reading.

The classes keep one-line ``_repr_html_`` / ``_repr_png_`` methods that call these functions, so the
display code lives here and the result classes stay plain data. Figures come from ``digitlab.metrics.plots``
(the same drawings as a run's report) or are built with matplotlib's object API, never through pyplot's
global state, so a notebook shows each figure once and a script opens no window.
"""

from __future__ import annotations

import base64
import html
import io
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

TABLE_STYLE = "border-collapse:collapse;text-align:right"
CELL_STYLE = "padding:2px 8px;border-bottom:1px solid #ddd"


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """A matplotlib Figure (object API) as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def plot_png(draw: Callable[[Path], None]) -> bytes:
    """PNG bytes of a ``digitlab.metrics.plots`` drawing, which writes its figure to a file path."""
    with tempfile.TemporaryDirectory(prefix="digitlab-figure-") as tmp:
        path = Path(tmp) / "figure.png"
        draw(path)
        return path.read_bytes()


def img_tag(png: bytes, alt: str, width: int | None = None) -> str:
    """An <img> holding the PNG inline (a notebook's HTML output cannot link a file beside it)."""
    size = f' width="{width}"' if width else ""
    return (f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
            f'alt="{html.escape(alt)}"{size}>')


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None) -> str:
    """A small HTML table; every cell escaped."""
    head = "".join(f'<th style="{CELL_STYLE}">{html.escape(str(h))}</th>' for h in header)
    body = "".join("<tr>" + "".join(f'<td style="{CELL_STYLE}">{html.escape(str(c))}</td>' for c in row) + "</tr>"
                   for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table style="{TABLE_STYLE}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _num(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


# --- TrainResult -----------------------------------------------------------------------------------------

def curves_png(history: Sequence[dict]) -> bytes:
    """Loss and accuracy per epoch, as in a run's curves.png."""
    from digitlab.metrics.plots import training_curves

    return plot_png(lambda path: training_curves(history, path))


def train_result_text(result: Any) -> str:
    return (f"TrainResult({result.recipe.name}: {result.recipe.model}, {len(result.history)} epoch(s), "
            f"test acc {result.test_acc:.2%}, best val acc {result.best_val_acc:.2%}, "
            f"{result.train_seconds:.1f} s, run_dir {str(result.run_dir)!r})")


def train_result_html(result: Any) -> str:
    summary = [("recipe", result.recipe.name), ("model", result.recipe.model), ("run directory", result.run_dir),
               ("test accuracy", _pct(result.test_acc)), ("best validation accuracy", _pct(result.best_val_acc)),
               ("epochs", len(result.history)), ("training time", f"{result.train_seconds:.1f} s")]
    if result.time_to_target_s is not None:
        summary.append(("time to target", f"{result.time_to_target_s:.1f} s"))
    if result.recipe.published:
        summary.append((f"published ({result.recipe.reproduces})", result.recipe.published))
    history = [(h["epoch"], _num(h.get("train_loss")), _pct(h.get("train_acc")), _num(h.get("val_loss")),
                _pct(h.get("val_acc")), _num(h.get("seconds"), 1)) for h in result.history]
    return ("<div>" + html_table(("", ""), summary, caption="TrainResult")
            + html_table(("epoch", "train loss", "train acc", "val loss", "val acc", "seconds"), history)
            + img_tag(curves_png(result.history), "training curves", width=700) + "</div>")


# --- Evaluation ------------------------------------------------------------------------------------------

def confusion_png(evaluation: Any) -> bytes:
    from digitlab.metrics.plots import confusion_heatmap

    return plot_png(lambda path: confusion_heatmap(evaluation.confusion, evaluation.classes, path))


def evaluation_html(evaluation: Any) -> str:
    loss = "n/a" if evaluation.loss is None else f"{evaluation.loss:.4f}"
    head = (f"<p><b>accuracy {evaluation.accuracy:.2%}</b> on {evaluation.n} images ({evaluation.errors} errors)"
            f" &nbsp; macro F1 {evaluation.macro_f1:.4f} &nbsp; loss {loss}</p>")
    per_class = [(r["class"], _num(r["precision"]), _num(r["recall"]), _num(r["f1"]), r["support"])
                 for r in evaluation.per_class]
    confusion = [(name, *(int(v) for v in row)) for name, row in zip(evaluation.classes, evaluation.confusion,
                                                                      strict=True)]
    tables = (html_table(("class", "precision", "recall", "F1", "support"), per_class)
              + html_table(("true \\ predicted", *evaluation.classes), confusion, caption="confusion matrix"))
    figure = img_tag(confusion_png(evaluation), "confusion matrix", width=420)
    return (f'<div>{head}<div style="display:flex;gap:24px;align-items:flex-start">'
            f"<div>{tables}</div><div>{figure}</div></div></div>")


def evaluation_text(evaluation: Any) -> str:
    return f"Evaluation(accuracy {evaluation.accuracy:.2%} on {evaluation.n} images, {evaluation.errors} errors)"


# --- Reading ---------------------------------------------------------------------------------------------

def reading_png(reading: Any) -> bytes:
    """Each classified 28x28 crop above a bar chart of its class probabilities."""
    from matplotlib.figure import Figure

    items = reading.items
    n = max(1, len(items))
    fig = Figure(figsize=(1.9 * n, 3.2))
    grid = fig.add_gridspec(2, n, height_ratios=(1.2, 1.0))
    for i, item in enumerate(items):
        crop_ax = fig.add_subplot(grid[0, i])
        crop_ax.axis("off")
        if i < len(reading.crops):
            crop_ax.imshow(reading.crops[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        crop_ax.set_title(f"{item.digit}  p={max(item.probs):.3f}", fontsize=9,
                          color="black" if item.confident else "darkorange")
        bar_ax = fig.add_subplot(grid[1, i])
        probs = np.asarray(item.probs)
        bar_ax.bar(range(len(probs)), probs, color=["tab:blue" if k == item.digit else "lightgray"
                                                      for k in range(len(probs))])
        bar_ax.set_ylim(0, 1)
        bar_ax.set_xticks(range(len(probs)))
        bar_ax.tick_params(labelsize=7)
        if i:
            bar_ax.set_yticklabels([])
    return figure_png(fig)


def reading_text(reading: Any) -> str:
    where = f" from {reading.path!r}" if reading.path else ""
    return f"Reading({reading.digits!r}, confidence {reading.confidence:.3f}, {len(reading.items)} digit(s){where})"


def reading_html(reading: Any) -> str:
    rows = [(i, item.digit, f"{max(item.probs):.4f}", ", ".join(f"{t['digit']}: {t['p']:.3f}" for t in item.top_k),
             "yes" if item.confident else "no", item.box if item.box is not None else "–")
            for i, item in enumerate(reading.items)]
    head = (f"<p>read <b style='font-size:1.3em'>{html.escape(reading.digits)}</b> "
            f"&nbsp; confidence {reading.confidence:.3f}</p>")
    table = html_table(("#", "digit", "p", "top k", "confident", "box (l, t, r, b)"), rows)
    figure = img_tag(reading_png(reading), "the crops and their probabilities") if reading.items else ""
    return f"<div>{head}{table}{figure}</div>"
