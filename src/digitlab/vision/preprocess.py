"""Turn the ink of one digit into an MNIST image, the way MNIST itself was made.

LeCun et al.: each NIST digit was scaled, aspect preserved, to fit a 20x20 box with anti-aliasing,
then placed in a 28x28 field so that its centre of mass sits at the centre. MNIST's centre of mass
is at pixel (14, 14) (0-based, mean over the training set), within half a pixel: integer shifts.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PIL import Image
from scipy import ndimage

from digitlab.errors import NoInkError
from digitlab.vision.ink import WORK_SIDE, Box, InkImage, InkPolarity, find_ink
from digitlab.vision.resample import lanczos

MNIST_SIZE = 28
MNIST_BOX = 20  # the digit's longest side in MNIST
MNIST_CENTRE = 14  # where MNIST puts the centre of mass (row and column)
SPECK_FRACTION = 0.05  # a component with less ink than this share of the largest one is a speck
SATURATED_SHARE = 0.3  # share of a digit's clear ink pixels that end at full intensity, about as in MNIST
STROKE_SIDE = 4 * MNIST_BOX  # a digit is reduced to this before its strokes are measured
MIN_STROKE = 1.6  # strokes thinner than this (in output pixels; MNIST: 1.9 at the 1st percentile) grow ...
TARGET_STROKE = 2.4  # ... to about this (MNIST median: 2.6, measured the same way)
MAX_STROKE = 4.0  # strokes wider than this (MNIST's 95th percentile: 4.0) are eroded ...
THIN_TOWARDS = 3.0  # ... half of the way down to this: a marker's blob keeps a marker's weight, not a hairline's

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


class DigitCrop(NamedTuple):
    """One digit found in an image: where (input-image pixels) and its MNIST-style image."""

    box: Box
    image: np.ndarray  # uint8 (28, 28), light ink on black


def to_mnist(grey: np.ndarray | InkImage, *, polarity: InkPolarity = "auto", work_side: int = WORK_SIDE) -> DigitCrop:
    """The single digit in ``grey`` as a 28x28 MNIST image, and its ink bounding box.

    ``grey``: a grey image (see ``load_image``) or the ``find_ink`` result for one. Specks much smaller
    than the digit are ignored; every other piece of ink counts as part of the digit (a 5 whose top
    stroke is detached stays one 5). Raises ImageError("no ink found") for a blank image.
    """
    found = grey if isinstance(grey, InkImage) else find_ink(grey, polarity=polarity, work_side=work_side)
    rows, cols = np.flatnonzero(found.mask.any(axis=1)), np.flatnonzero(found.mask.any(axis=0))
    if len(rows) == 0:
        raise NoInkError("no ink found")
    ink_box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)  # labelling costs by the pixel
    labels, count = ndimage.label(found.mask[ink_box], EIGHT_CONNECTED)
    if count == 1:  # one stroke (the usual drawing): it is the digit
        return _digit(found, found.mask, rows, cols)
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    areas[0] = 0
    region = np.zeros_like(found.mask)
    region[ink_box] = (areas >= SPECK_FRACTION * areas.max())[labels]  # label 0 (paper) is never kept
    return digit_from_region(found, region)


def digit_from_region(found: InkImage, region: np.ndarray) -> DigitCrop:
    """The digit whose ink is ``region`` (bool, analysis resolution) as a DigitCrop."""
    return _digit(found, region, np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0)))


def _digit(found: InkImage, region: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> DigitCrop:
    """``digit_from_region`` given the region's rows and columns that hold ink."""
    if len(rows) == 0:
        raise NoInkError("no ink found")
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    # One analysis pixel more on each side keeps the soft edges of strokes at the box's border.
    height, width = region.shape
    crop = (max(0, top - 1), min(height, bottom + 1), max(0, left - 1), min(width, right + 1))
    ink = found.ink_crop(*crop, region[crop[0]: crop[1], crop[2]: crop[3]])
    return DigitCrop(found.input_box(top, bottom, left, right), normalize_digit(ink))


def normalize_digit(ink: np.ndarray) -> np.ndarray:
    """Ink strength (float, 0..1, any size) to a 28x28 uint8 MNIST digit.

    Strokes thinner than MNIST's (a ballpoint line across a large digit would shrink to a faint
    hairline) are first thickened to about MNIST's width; strokes wider than nearly all of MNIST's (a marker,
    a blurred or upscaled digit, whose loops nearly close) are thinned half-way towards it. The ink's bounding
    box is then scaled so its longest side is 20 px (aspect kept, Lanczos: anti-aliased), its levels stretched
    so the strongest ~30% of stroke pixels are full white, and it is placed in 28x28 with its centre of mass at
    (14, 14).
    """
    ink = _crop_to_ink(np.asarray(ink, dtype=np.float32))
    if max(ink.shape) > STROKE_SIDE:  # stroke width is measured and changed at this resolution
        factor = STROKE_SIDE / max(ink.shape)
        size = (max(1, round(ink.shape[1] * factor)), max(1, round(ink.shape[0] * factor)))
        ink = np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.BOX))
    ink = _crop_to_ink(_even_stroke(ink, MNIST_BOX / max(ink.shape)))
    height, width = ink.shape
    factor = MNIST_BOX / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    digit = lanczos(ink, size)  # Pillow's LANCZOS, computed here for a fraction of its cost
    digit = np.clip(digit, 0.0, 1.0)
    strongest = digit.max()
    clear = digit[digit > 0.2 * strongest]
    if clear.size == 0 or strongest <= 0:
        raise NoInkError("no ink found")
    full = _quantile(clear, 1.0 - SATURATED_SHARE)
    digit = np.clip(digit / max(full, 1e-6), 0.0, 1.0)
    return _place_by_centre_of_mass(np.rint(digit * 255.0).astype(np.uint8))


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels of a soft ink image: a stroke's area is its length times its width,
    and its outline, counted on both sides, is twice its length. Reads about 1-2 for hairlines."""
    level = float(_quantile(ink[ink > 0.1 * ink.max()], 0.9))
    mask = ink > 0.5 * level
    outline = np.count_nonzero(mask) - np.count_nonzero(_erode(mask))  # the eroded mask lies inside the mask
    return 2.0 * float(ink.sum()) / level / max(outline, 1)


def _quantile(values: np.ndarray, q: float) -> np.floating:
    """``np.quantile(values, q)`` for a 1-D array and a float ``q``, the same number in the same dtype, by
    a partial sort: on a digit's few hundred pixels np.quantile's overhead costs many times the sort."""
    n = values.size
    position = (n - 1) * q  # np.quantile's own arithmetic (linear method), for the same rounding
    below = min(max(math.floor(position), 0), n - 1)
    above = min(below + 1, n - 1)
    part = np.partition(values, (below, above))
    low, high = part[below], part[above]
    t = position - below
    diff = high - low  # numpy scalars with Python floats: the values' dtype throughout, as in np.quantile
    return high - diff * (1.0 - t) if t >= 0.5 else low + diff * t


def _erode(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_erosion(mask)`` (cross-shaped; outside the image counts as empty, so the border
    pixels are all eroded) by slices, without them: faster on small masks."""
    return mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]


def _even_stroke(ink: np.ndarray, output_per_pixel: float) -> np.ndarray:
    """Grow strokes that would be thinner than ``MIN_STROKE`` output pixels to ``TARGET_STROKE``; erode those
    wider than ``MAX_STROKE`` by half their excess over ``THIN_TOWARDS`` (eroding all the way cost accuracy:
    a thick digit's thinner parts vanish). A square filter of side s changes a stroke's width by s - 1 pixels."""
    width = stroke_width(ink) * output_per_pixel
    if width < MIN_STROKE:
        grow = round((TARGET_STROKE - width) / output_per_pixel)
        if grow >= 1:
            return ndimage.maximum_filter(np.pad(ink, grow), size=grow + 1)
    elif width > MAX_STROKE:
        shrink = round(0.5 * (width - THIN_TOWARDS) / output_per_pixel)
        if shrink >= 1:
            return ndimage.minimum_filter(ink, size=shrink + 1)
    return ink


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(ink.max(axis=1) > 0) if ink.size else np.empty(0, int)
    if len(rows) == 0:
        raise NoInkError("no ink found")
    cols = np.flatnonzero(ink.max(axis=0) > 0)
    return ink[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]


def _place_by_centre_of_mass(digit: np.ndarray) -> np.ndarray:
    height, width = digit.shape
    weights = digit.astype(np.float64)
    total = weights.sum()
    cy = (weights.sum(axis=1) @ np.arange(height)) / total
    cx = (weights.sum(axis=0) @ np.arange(width)) / total
    top = min(max(round(MNIST_CENTRE - cy), 0), MNIST_SIZE - height)  # never push ink off the field
    left = min(max(round(MNIST_CENTRE - cx), 0), MNIST_SIZE - width)
    field = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.uint8)
    field[top: top + height, left: left + width] = digit
    return field
