"""Writing-style transforms of a digit image, for measuring how a reader copes with styles MNIST rarely has.

NumPy/SciPy on one (H, W) uint8 image of light ink on black (MNIST's form), returning the same form, so the
result can go to ``digitlab.vision.synthetic.photo_digit`` / ``photo_number``. These are evaluation tools: the
training side has its own batched augmentation (``digitlab.training.augment``), and evaluation data never
enters training.

>>> import numpy as np
>>> digit = np.zeros((28, 28), np.uint8); digit[4:24, 13:15] = 255
>>> slant(digit, 0.4).shape[1] > 28, stroke(digit, 2).sum() > digit.sum()
(True, True)
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

STYLES = ("plain", "slant-left", "slant-right", "thick", "thin", "narrow", "wide")


def slant(image: np.ndarray, shear: float) -> np.ndarray:
    """Shear horizontally by ``shear`` (dx per dy; positive leans right, like italics), widening the canvas."""
    image = np.asarray(image, dtype=np.uint8)
    height, width = image.shape
    pad = int(np.ceil(abs(shear) * height)) + 1
    canvas = np.zeros((height, width + pad), dtype=np.uint8)
    left = 0 if shear > 0 else pad  # room on the side the top moves to
    canvas[:, left: left + width] = image
    # Output (x, y) samples input (x + shear * y - shear * (height - 1)): the bottom row stays in place.
    coeffs = (1.0, shear, -shear * (height - 1), 0.0, 1.0, 0.0)
    out = Image.fromarray(canvas).transform(canvas.shape[::-1], Image.Transform.AFFINE, coeffs,
                                            Image.Resampling.BICUBIC, fillcolor=0)
    return np.asarray(out)


def stroke(image: np.ndarray, change: int) -> np.ndarray:
    """Thicker (``change`` > 0) or thinner (< 0) strokes: grey dilation / erosion by ``|change| + 1`` pixels
    square, at a 4x upsampled resolution so a one-pixel change is a quarter of MNIST's pixel, then back; the
    darkest ink keeps its level."""
    image = np.asarray(image, dtype=np.uint8)
    if change == 0:
        return image.copy()
    height, width = image.shape
    big = np.asarray(Image.fromarray(np.pad(image, 2)).resize(((width + 4) * 4, (height + 4) * 4),
                                                              Image.Resampling.BICUBIC))
    morphology = ndimage.grey_dilation if change > 0 else ndimage.grey_erosion
    big = morphology(big, size=(abs(change) + 1, abs(change) + 1))
    small = np.asarray(Image.fromarray(big).resize((width + 4, height + 4), Image.Resampling.BOX))[2:-2, 2:-2]
    # A thin pen is thin, not faint: keep the darkest ink where it was.
    peak, was = int(small.max()), int(image.max())
    if 0 < peak < was:
        small = np.rint(small.astype(np.float32) * (was / peak)).clip(0, 255).astype(np.uint8)
    return small.copy()


def aspect(image: np.ndarray, factor: float) -> np.ndarray:
    """Width times ``factor`` (height kept): a narrow (< 1) or wide (> 1) hand."""
    image = np.asarray(image, dtype=np.uint8)
    height, width = image.shape
    return np.asarray(Image.fromarray(image).resize((max(1, round(width * factor)), height),
                                                    Image.Resampling.BICUBIC))


def styled(image: np.ndarray, style: str, rng: np.random.Generator) -> np.ndarray:
    """One of ``STYLES`` with a strength drawn from ``rng``: slants 0.25-0.45, strokes +-(6-9) quarter-pixels,
    aspect 0.6-0.75 or 1.3-1.5."""
    if style == "plain":
        return np.asarray(image, dtype=np.uint8).copy()
    if style in ("slant-left", "slant-right"):
        shear = rng.uniform(0.25, 0.45)
        return slant(image, shear if style == "slant-right" else -shear)
    if style in ("thick", "thin"):
        amount = int(rng.integers(6, 10))
        return stroke(image, amount if style == "thick" else -amount // 2)
    if style in ("narrow", "wide"):
        return aspect(image, rng.uniform(0.6, 0.75) if style == "narrow" else rng.uniform(1.3, 1.5))
    raise ValueError(f"unknown style {style!r}; choose {', '.join(STYLES)}")


def upscale_uci(image8: np.ndarray, side: int = 28) -> np.ndarray:
    """A UCI (scikit-learn ``load_digits``) 8x8 digit, values 0..16, as a ``side`` x ``side`` uint8 image of light
    ink on black: scaled to full ink, padded by one block, upsampled bicubically (the blocks become smooth strokes),
    the faint ringing around them cleared."""
    grey = np.asarray(image8, dtype=np.float32)
    grey = np.clip(grey / max(float(grey.max()), 1.0), 0.0, 1.0)  # a faint writer's darkest block is full ink
    grey = np.pad(grey, 1)
    big = np.asarray(Image.fromarray(grey).resize((side, side), Image.Resampling.BICUBIC))
    big = np.where(big < 0.1, 0.0, big)
    return np.rint(np.clip(big, 0.0, 1.0) * 255).astype(np.uint8)
