"""Images and an app for the service tests."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png(image: Image.Image | np.ndarray) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def canvas_png(digit28: np.ndarray, side: int = 280) -> bytes:
    """An MNIST digit as a drawing page would send it: dark ink on white, larger."""
    return png(Image.fromarray(255 - np.asarray(digit28)).resize((side, side), Image.Resampling.BILINEAR))


def number_png(digits28: list[np.ndarray], gap: int = 6) -> bytes:
    """Several MNIST digits side by side, dark on white, as a photo of a written number."""
    tiles = [np.asarray(d) for d in digits28]
    row = np.zeros((28, sum(28 + gap for _ in tiles) + gap), np.uint8)
    x = gap
    for tile in tiles:
        row[:, x:x + 28] = np.maximum(row[:, x:x + 28], tile)
        x += 28 + gap
    row = np.pad(row, 8)
    return png(Image.fromarray(255 - row).resize((row.shape[1] * 4, row.shape[0] * 4), Image.Resampling.BILINEAR))
