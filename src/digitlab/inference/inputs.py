"""Normalising what users pass as "images" into one form: float32 (N, 28, 28) in [0, 1]."""

from __future__ import annotations

import numpy as np

from digitlab.errors import DigitlabError


def as_unit_images(images: object) -> np.ndarray:
    """uint8 or float arrays, (N, 28, 28), (28, 28) or (N, 784) -> float32 (N, 28, 28) in [0, 1].

    uint8 is divided by 255. Floats are taken as [0, 1] unless their maximum exceeds 1, in which case
    they are read as 0-255 values.
    """
    arr = np.asarray(images)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DigitlabError(f"images must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape == (28, 28):
        arr = arr[None]
    elif arr.ndim == 2 and arr.shape[1] == 784:
        arr = arr.reshape(-1, 28, 28)
    elif arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or arr.shape[1:] != (28, 28):
        raise DigitlabError(f"images must have shape (N, 28, 28), (28, 28) or (N, 784); got {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise DigitlabError("images contain NaN or infinite values")
    if out.size and out.max() > 1.0:
        out = out / np.float32(255.0)
    if out.size and (out.min() < 0.0 or out.max() > 1.0):
        raise DigitlabError("image values must lie in [0, 1] or [0, 255]")
    return out


def as_uint8_images(images: object) -> np.ndarray:
    """``as_unit_images``, then back to uint8 (N, 28, 28) 0-255, rounded: the form crops from images take."""
    return np.rint(as_unit_images(images) * np.float32(255.0)).astype(np.uint8)
