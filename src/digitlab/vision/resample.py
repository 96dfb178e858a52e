"""Pillow's Lanczos resize of a small float32 image (mode "F"), as two matrix products on cached coefficients.

The last step of every digit (its ink to 20 px) costs Pillow several times more in set-up, in the round trip
through ``Image.fromarray`` and in its long filter taps than the products cost here. The coefficients are
Pillow's own (``precompute_coeffs`` in its Resample.c); as in Pillow, each pass sums in double and is stored as
float32, horizontal first. The products may sum in another order than Pillow's loop, so a float32 result can
differ from Pillow's in its last bit (tests/test_vision_fastpaths.py).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

SUPPORT = 3.0  # Lanczos-3


def _sinc(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x == 0.0, 1.0, np.sin(x * math.pi) / (x * math.pi))


@lru_cache(maxsize=512)
def lanczos_matrix(in_size: int, out_size: int) -> np.ndarray:
    """Pillow's Lanczos weights for ``in_size`` samples to ``out_size``, as a dense (out, in) float64 matrix."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = SUPPORT * filterscale
    taps = math.ceil(support) * 2 + 1
    centre = (np.arange(out_size) + 0.5) * scale
    first = np.maximum((centre - support + 0.5).astype(np.int64), 0)  # C's (int) truncation
    end = np.minimum((centre + support + 0.5).astype(np.int64), in_size)
    offsets = np.arange(taps)
    x = (offsets[None, :] + first[:, None] - centre[:, None] + 0.5) * (1.0 / filterscale)  # Pillow's rounding
    weights = np.where((x >= -SUPPORT) & (x < SUPPORT), _sinc(x) * _sinc(x / SUPPORT), 0.0)
    weights[offsets[None, :] >= (end - first)[:, None]] = 0.0
    total = weights.sum(axis=1, keepdims=True)
    weights = np.where(total != 0.0, weights / np.where(total != 0.0, total, 1.0), weights)
    matrix = np.zeros((out_size, in_size + taps))
    matrix[np.arange(out_size)[:, None], first[:, None] + offsets] = weights  # one weight per (output, input)
    matrix = np.ascontiguousarray(matrix[:, :in_size])  # taps past the end carry no weight
    matrix.flags.writeable = False
    return matrix


def lanczos(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)`` of a float32 image, (width, height)."""
    out = image
    width, height = size
    if width != image.shape[1]:
        out = (out.astype(np.float64) @ lanczos_matrix(image.shape[1], width).T).astype(np.float32)
    if height != image.shape[0]:
        out = (lanczos_matrix(image.shape[0], height) @ out.astype(np.float64)).astype(np.float32)
    return out
