"""Figures as PNG files, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import matplotlib

if not os.environ.get("MPLBACKEND"):  # Jupyter sets its inline backend here; Agg would stop inline figures
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from digitlab.utils.fileio import atomic_open  # noqa: E402


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> None:
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def digit_grid(images: np.ndarray, titles: Sequence[str], path: str | os.PathLike,
               suptitle: str | None = None, title_colors: Sequence[str] | None = None) -> None:
    """A grid of 28x28 digits, each titled (e.g. its label, or 'true 7 / pred 1')."""
    n = len(images)
    cols = min(n, max(1, math.ceil(math.sqrt(n))))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.7 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
            color = title_colors[i] if title_colors else "black"
            ax.set_title(titles[i], fontsize=9, color=color)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    save_figure(fig, path)


def training_curves(history: Sequence[dict], path: str | os.PathLike, title: str | None = None) -> None:
    """Two panels, loss and accuracy (%) per epoch, train vs validation; markers so one epoch still shows."""
    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    panels = ((loss_ax, "loss", "loss", 1.0), (acc_ax, "acc", "accuracy (%)", 100.0))
    for ax, key, ylabel, scale in panels:
        drawn = False
        for split, style in (("train", "o-"), ("val", "s--")):
            values = [h.get(f"{split}_{key}") for h in history]
            if all(v is None for v in values):
                continue
            ys = [np.nan if v is None else v * scale for v in values]
            ax.plot(epochs, ys, style, label="validation" if split == "val" else split, markersize=5)
            drawn = True
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(ylabel.split(" ")[0])
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if drawn:
            ax.legend()
        else:
            ax.text(0.5, 0.5, f"no {ylabel.split(' ')[0]} recorded", ha="center", va="center",
                    transform=ax.transAxes, color="gray")
    if len(epochs) == 1:  # a single point would otherwise sit on an axis with a meaningless span
        for ax in (loss_ax, acc_ax):
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
    if acc_ax.get_ylim()[1] > 101:  # autoscale pads a flat 100% line up to an impossible 105%
        acc_ax.set_ylim(top=101)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def confusion_heatmap(confusion: np.ndarray, classes: Sequence[str], path: str | os.PathLike,
                      title: str | None = None) -> None:
    """Counts annotated on each cell; colour is the share of the true class's row, on a square-root scale
    so that a handful of errors still shows next to a diagonal of a thousand."""
    confusion = np.asarray(confusion)
    n = len(classes)
    rows = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    size = max(4.0, 0.55 * n + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(share, cmap="Blues", norm=matplotlib.colors.PowerNorm(gamma=0.4, vmin=0, vmax=1))
    cbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("share of the true class")
    fontsize = 9 if n <= 10 else 7
    for t in range(n):
        for p in range(n):
            count = int(confusion[t, p])
            color = "white" if share[t, p] > 0.45 else ("black" if count else "lightgray")
            ax.text(p, t, str(count), ha="center", va="center", fontsize=fontsize, color=color)
    long_names = max((len(str(c)) for c in classes), default=1) > 3
    ax.set_xticks(range(n), [str(c) for c in classes], rotation=45 if long_names else 0,
                  ha="right" if long_names else "center")
    ax.set_yticks(range(n), [str(c) for c in classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)


def placeholder(message: str, path: str | os.PathLike, size: tuple[float, float] = (5.0, 2.0)) -> None:
    """A figure that only says ``message`` (e.g. 'no mistakes'), so a report never links a missing file."""
    fig, ax = plt.subplots(figsize=size)
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=16, color="dimgray", transform=ax.transAxes)
    save_figure(fig, path)


def reliability_diagram(bins: Sequence[dict], path: str | os.PathLike, title: str | None = None,
                        ece: float | None = None) -> None:
    """Accuracy against mean confidence per bin (``digitlab.metrics.calibration.reliability_bins``), beside the
    diagonal of perfect calibration; below it, how many images each bin holds (log scale)."""
    fig, (ax, count_ax) = plt.subplots(2, 1, figsize=(5.2, 6.2), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1]})
    width = bins[0]["upper"] - bins[0]["lower"]
    lowers = [b["lower"] for b in bins]
    filled = [b for b in bins if b["count"]]
    ax.plot([0, 1], [0, 1], "--", color="gray", linewidth=1, label="perfect calibration")
    ax.bar([b["lower"] for b in filled], [b["accuracy"] for b in filled], width=width, align="edge",
           color="tab:blue", alpha=0.75, edgecolor="white", label="accuracy")
    ax.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled], "o", color="tab:red",
            markersize=4, label="(mean confidence, accuracy)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    if ece is not None:
        ax.text(0.97, 0.04, f"ECE {ece:.2%}", ha="right", va="bottom", transform=ax.transAxes, fontsize=11)
    count_ax.bar(lowers, [max(b["count"], 0) for b in bins], width=width, align="edge", color="tab:gray",
                 edgecolor="white")
    if any(b["count"] for b in bins):
        count_ax.set_yscale("log")
    count_ax.set_xlabel("confidence (top probability)")
    count_ax.set_ylabel("images")
    count_ax.grid(True, alpha=0.3)
    ax.set_title(title or "reliability")
    fig.tight_layout()
    save_figure(fig, path)


def risk_coverage_plot(coverage: np.ndarray, accuracy: np.ndarray, path: str | os.PathLike,
                       title: str | None = None, target: float | None = None) -> None:
    """Accuracy (%) of the most confident share of images against that share (coverage, %), from full coverage
    down to 80%, with the ``target`` accuracy as a line."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    coverage = np.asarray(coverage) * 100
    accuracy = np.asarray(accuracy) * 100
    shown = coverage >= 80
    ax.plot(coverage[shown], accuracy[shown], color="tab:blue", linewidth=1.6, label="kept images")
    if target is not None:
        ax.axhline(target * 100, color="tab:red", linestyle="--", linewidth=1, label=f"{target:.2%} accuracy")
    for c in (100, 99, 95, 90):
        k = min(len(coverage), max(1, int(np.ceil(round(c / 100 * len(coverage), 9))))) - 1
        ax.plot(coverage[k], accuracy[k], "o", color="tab:blue", markersize=4)
        ax.annotate(f"{accuracy[k]:.2f}%", (coverage[k], accuracy[k]), textcoords="offset points", xytext=(0, -12),
                    ha="center", fontsize=8)
    ax.set_xlim(101, 79)  # most coverage on the left: read as "reject more, go right"
    low = min(accuracy[shown].min(initial=100), (target or 1) * 100)
    ax.set_ylim(max(0.0, low - 0.1 * (100.5 - low)), 100.05)
    ax.set_xlabel("coverage: share of images accepted (%)")
    ax.set_ylabel("accuracy of the accepted (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "risk-coverage")
    fig.tight_layout()
    save_figure(fig, path)
