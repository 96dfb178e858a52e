"""From a photo (or drawing, or array) to the digits it shows: decode, find and normalise the ink, classify.

The image side lives in ``digitlab.vision`` (no torch); this module applies a model to its 28x28 crops and
turns probabilities into a reading: the string, per-digit probabilities, top-k, and a confidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitlab.artifacts import Classifier, load_classifier
from digitlab.errors import ImageError
from digitlab.inputs import as_uint8_images

DOUBTFUL = "?"


@dataclass
class DigitReading:
    digit: int
    probs: list[float]
    top_k: list[dict[str, float]]
    box: list[int] | None  # left, top, right, bottom in the input image's pixels
    confident: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"digit": self.digit, "probs": self.probs, "top_k": self.top_k, "box": self.box,
                "confident": self.confident}


@dataclass
class Reading:
    """What was read in one input: the string (``?`` for doubtful digits) and the per-digit details."""

    digits: str
    confidence: float  # product of the per-digit top probabilities: the chance the whole string is right
    items: list[DigitReading] = field(default_factory=list)
    path: str | None = None
    crops: list[np.ndarray] = field(default_factory=list, repr=False)  # the 28x28 images classified

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "digits": self.digits, "confidence": self.confidence,
                "items": [item.to_json() for item in self.items]}

    def _repr_html_(self) -> str:  # Jupyter: the string, a per-digit table, each crop with its probabilities
        from digitlab.display import reading_html

        return reading_html(self)

    def _repr_png_(self) -> bytes:
        from digitlab.display import reading_png

        return reading_png(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from digitlab.display import reading_text

        printer.text(reading_text(self))


def _model(model: str | Classifier) -> Classifier:
    return model if isinstance(model, Classifier) else load_classifier(model)


def read_crops(model: Classifier, crops: np.ndarray, boxes: list[list[int] | None], top_k: int = 3,
               min_confidence: float | None = None, path: str | None = None) -> Reading:
    """Classify 28x28 uint8 crops (left to right) into one Reading."""
    return reading_from_probs(model.classes, model.predict_proba(crops), boxes, top_k, min_confidence, path, crops)


def reading_from_probs(classes: tuple[str, ...], probs: np.ndarray, boxes: list[list[int] | None], top_k: int = 3,
                       min_confidence: float | None = None, path: str | None = None,
                       crops: np.ndarray | None = None) -> Reading:
    """Turn per-crop class probabilities (left to right) into one Reading: string, top-k, confidence."""
    probs = np.round(np.asarray(probs, dtype=np.float64), 6)  # whole arrays at once: this runs per request
    orders = np.argsort(-probs, axis=1, kind="stable")[:, :max(1, top_k)]
    items = []
    for p, order, box in zip(probs.tolist(), orders.tolist(), boxes, strict=True):
        best = order[0]
        confident = min_confidence is None or p[best] >= min_confidence
        items.append(DigitReading(best, p, [{"digit": d, "p": p[d]} for d in order], box, confident))
    text = "".join(classes[i.digit] if i.confident else DOUBTFUL for i in items)
    confidence = float(np.prod([max(i.probs) for i in items])) if items else 0.0
    return Reading(text, round(confidence, 6), items, path, list(crops) if crops is not None else [])


def recognize(image: Any, model: str | Classifier = "default", multi: bool | None = None, top_k: int = 3,
              min_confidence: float | None = None, max_pixels: int | None = None) -> Reading:
    """Read the digit(s) in an image: a path, bytes, a file object, a PIL image or a numpy array.

    ``multi``: True for a number, False for one digit, None to decide from the ink's shape. A (28, 28)
    array is taken as an MNIST-ready digit and classified as is.

    >>> digitlab.recognize("docs/number.png").digits     # doctest: +SKIP
    '2026'
    """
    model = _model(model)
    crops, boxes = find_digit_crops(image, model, multi, max_pixels)
    return read_crops(model, crops, boxes, top_k, min_confidence)


def looks_like_mnist(grey: np.ndarray) -> bool:
    """A 28x28 image already in MNIST's form: light ink on a black ground (the border), some of it bright.

    Such an image (an MNIST digit saved as PNG, a client's own crop) is classified as it is: re-cropping
    and re-centring would only blur it. Anything else, 28x28 dark-on-light included, is preprocessed.
    """
    if grey.shape != (28, 28):
        return False
    border = np.concatenate([grey[:2].ravel(), grey[-2:].ravel(), grey[2:-2, :2].ravel(), grey[2:-2, -2:].ravel()])
    return float(border.mean()) <= 16.0 and int(grey.max()) >= 128


def find_digit_crops(image: Any, model: Classifier, multi: bool | None = None,
                     max_pixels: int | None = None) -> tuple[np.ndarray, list[list[int] | None]]:
    """The 28x28 uint8 digits in an image, left to right, and their boxes in the image's pixels.

    A (28, 28) array is taken as an MNIST-ready digit as it is (uint8, or floats in 0..1 or 0..255), and
    so is a 28x28 image that ``looks_like_mnist``. Raises ImageError for an unreadable image or one without ink.
    """
    from digitlab.vision import DEFAULT_MAX_PIXELS, WORK_SIDE, extract_digits, read_image

    if isinstance(image, np.ndarray) and image.shape == (28, 28):
        return as_uint8_images(image), [None]
    decoded = read_image(image, max_pixels=max_pixels or DEFAULT_MAX_PIXELS, max_side=WORK_SIDE)
    if looks_like_mnist(decoded.grey):
        return decoded.grey[None], [[0, 0, 28, 28]]
    # The model breaks near-ties in segmentation: split or keep whole, whichever it reads more surely.
    crops = extract_digits(decoded.grey, multi=multi, scorer=lambda x: model.predict_proba(x).max(axis=1))
    if not crops:
        raise ImageError("no ink found")
    return np.stack([c.image for c in crops]), [list(c.box.scaled(decoded.scale)) for c in crops]
