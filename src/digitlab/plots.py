"""Figures as PNG files, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from digitlab.fileio import atomic_open  # noqa: E402


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
