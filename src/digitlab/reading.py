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


def _model(model: str | Classifier) -> Classifier:
    return model if isinstance(model, Classifier) else load_classifier(model)


def read_crops(model: Classifier, crops: np.ndarray, boxes: list[list[int] | None], top_k: int = 3,
               min_confidence: float | None = None, path: str | None = None) -> Reading:
    """Classify 28x28 uint8 crops (left to right) into one Reading."""
    probs = model.predict_proba(crops)
    items = []
    for p, box in zip(probs, boxes, strict=True):
        order = np.argsort(-p)[:max(1, top_k)]
        best = int(order[0])
        confident = min_confidence is None or float(p[best]) >= min_confidence
        items.append(DigitReading(best, [round(float(v), 6) for v in p],
                                  [{"digit": int(d), "p": round(float(p[d]), 6)} for d in order], box, confident))
    text = "".join(model.classes[i.digit] if i.confident else DOUBTFUL for i in items)
    confidence = float(np.prod([max(i.probs) for i in items])) if items else 0.0
    return Reading(text, round(confidence, 6), items, path, list(crops))


def recognize(image: Any, model: str | Classifier = "default", multi: bool | None = None, top_k: int = 3,
              min_confidence: float | None = None, max_pixels: int | None = None) -> Reading:
    """Read the digit(s) in an image: a path, bytes, a file object, a PIL image or a numpy array.

    ``multi``: True for a number, False for one digit, None to decide from the ink's shape. A (28, 28)
    array is taken as an MNIST-ready digit and classified as is.

    >>> digitlab.recognize("docs/number.png").digits     # doctest: +SKIP
    '2026'
    """
    from digitlab.vision import DEFAULT_MAX_PIXELS, WORK_SIDE, extract_digits, read_image

    model = _model(model)
    if isinstance(image, np.ndarray) and image.shape == (28, 28):
        crop = image if image.dtype == np.uint8 else np.clip(np.asarray(image, np.float32) * (
            255.0 if float(np.max(image)) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        return read_crops(model, crop[None], [None], top_k, min_confidence)
    decoded = read_image(image, max_pixels=max_pixels or DEFAULT_MAX_PIXELS, max_side=WORK_SIDE)
    # The model breaks near-ties in segmentation: split or keep whole, whichever it reads more surely.
    crops = extract_digits(decoded.grey, multi=multi, scorer=lambda x: model.predict_proba(x).max(axis=1))
    if not crops:
        raise ImageError("no ink found")
    boxes = [list(c.box.scaled(decoded.scale)) for c in crops]
    return read_crops(model, np.stack([c.image for c in crops]), boxes, top_k, min_confidence)
