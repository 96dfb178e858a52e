"""``digitlab.show``: a grid of digits, titled with their labels (and predictions), for notebooks and files.

>>> digitlab.show(images[:16], labels=labels[:16])                        # doctest: +SKIP
>>> digitlab.show(images, labels=y, predictions=model.predict(images))    # doctest: +SKIP
>>> digitlab.show(images[:64]).save("grid.png")                           # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from digitlab.errors import DigitlabError
from digitlab.inference.inputs import as_uint8_images

MAX_IMAGES = 400  # a grid of more is unreadable, and slow to draw


class DigitGrid:
    """A drawn grid of digits. Jupyter displays it (``_repr_png_``); ``save(path)`` writes a PNG; ``figure``
    is the matplotlib Figure (object API: it never opens a window or shows twice in a notebook)."""

    def __init__(self, images: np.ndarray, titles: Sequence[str], colors: Sequence[str], cols: int,
                 title: str | None = None) -> None:
        self.images, self.titles, self.colors, self.cols, self.title = images, list(titles), list(colors), cols, title
        self._figure: Any = None

    @property
    def figure(self) -> Any:
        if self._figure is None:
            self._figure = self._draw()
        return self._figure

    def _draw(self) -> Any:
        from matplotlib.figure import Figure

        n, cols = len(self.images), self.cols
        rows = max(1, math.ceil(n / cols))
        titled = any(self.titles)
        fig = Figure(figsize=(1.1 * cols, (1.35 if titled else 1.1) * rows + (0.4 if self.title else 0)))
        axes = fig.subplots(rows, cols, squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < n:
                ax.imshow(self.images[i], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
                if self.titles[i]:
                    ax.set_title(self.titles[i], fontsize=8, color=self.colors[i])
        if self.title:
            fig.suptitle(self.title)
        fig.tight_layout()
        return fig

    def _repr_png_(self) -> bytes:
        from digitlab.notebook.display import figure_png

        return figure_png(self.figure)

    def save(self, path: str | os.PathLike) -> None:
        """Write the grid as a PNG (atomically)."""
        from digitlab.utils.fileio import atomic_write_bytes

        atomic_write_bytes(path, self._repr_png_())

    def __repr__(self) -> str:
        return f"DigitGrid({len(self.images)} images, {self.cols} columns)"


def _names(values: Any, n: int, what: str, classes: Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    values = np.asarray(values).reshape(-1)
    if len(values) != n:
        raise DigitlabError(f"{what}: {len(values)} given for {n} images")
    if classes is None:
        return [str(v) for v in values.tolist()]
    if not np.issubdtype(values.dtype, np.integer) or values.min() < 0 or values.max() >= len(classes):
        raise DigitlabError(f"{what} must be class indices in 0..{len(classes) - 1}")
    return [str(classes[v]) for v in values.tolist()]


def show(images: Any, labels: Any = None, predictions: Any = None, *, classes: Sequence[str] | None = None,
         cols: int | None = None, title: str | None = None) -> DigitGrid:
    """A grid of digits: uint8 or float images (N, 28, 28), (28, 28) or (N, 784), or a split (``.images``,
    ``.labels``, ``.classes``, e.g. ``load_dataset("mnist").test.take(slice(0, 16))``).

    ``labels`` and ``predictions`` (class indices, or any values to print) title each digit: with both, a
    wrong prediction is titled ``true→pred`` in red. ``classes`` maps indices to names (e.g. Fashion-MNIST).
    """
    if hasattr(images, "images") and hasattr(images, "labels"):  # a Digits split
        if labels is None:
            labels = images.labels
        if classes is None and tuple(images.classes) != tuple(str(i) for i in range(len(images.classes))):
            classes = images.classes
        images = images.images
    pixels = as_uint8_images(images)
    n = len(pixels)
    if n == 0:
        raise DigitlabError("nothing to show: no images")
    if n > MAX_IMAGES:
        raise DigitlabError(f"{n} images are too many for one grid (at most {MAX_IMAGES}); pass a slice")
    if cols is not None and cols < 1:
        raise DigitlabError(f"cols must be at least 1, got {cols}")
    truth = _names(labels, n, "labels", classes)
    guess = _names(predictions, n, "predictions", classes)
    titles, colors = [], []
    for i in range(n):
        if truth and guess:
            right = truth[i] == guess[i]
            titles.append(truth[i] if right else f"{truth[i]}→{guess[i]}")
            colors.append("black" if right else "red")
        else:
            titles.append((truth or guess or [""] * n)[i])
            colors.append("black")
    cols = cols or min(n, max(4, math.ceil(math.sqrt(n * 1.5))))
    return DigitGrid(pixels, titles, colors, min(cols, n), title)
