"""From a photo (or drawing, or array) to the digits it shows: decode, find and normalise the ink, classify.

The image side lives in ``digitlab.vision`` (no torch); this module applies a model to its 28x28 crops and
turns probabilities into a reading: the string, per-digit probabilities, top-k, and a confidence.

The reject option (``min_confidence=P``, ``--min-confidence P``): a reading is *accepted* when its confidence,
the product of its per-digit probabilities (calibrated where model.json has a temperature), is at least P: the
estimated chance that the whole string is right. Each digit is accepted when its own probability is at least P
(a number's digits can each pass while the whole does not). A digit that is not accepted reads as ``?`` in the
string, so that a person checking a rejected reading sees which digit was doubtful; its best guess stays in
``items[i].digit``. Without P everything is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitlab.inference.classifier import Classifier, load_classifier
from digitlab.vision.crops import SHIPPED, find_digit_crops

DOUBTFUL = "?"


@dataclass
class DigitReading:
    digit: int
    probs: list[float]
    top_k: list[dict[str, float]]
    box: list[int] | None  # left, top, right, bottom in the input image's pixels
    accepted: bool = True  # its top probability reached min_confidence (always True without one)

    @property
    def confident(self) -> bool:
        """The former name of ``accepted``."""
        return self.accepted

    def to_json(self) -> dict[str, Any]:
        return {"digit": self.digit, "probs": self.probs, "top_k": self.top_k, "box": self.box,
                "accepted": self.accepted}


@dataclass
class Reading:
    """What was read in one input: the string (``?`` for digits not accepted), whether the whole is accepted
    (its confidence reached ``min_confidence``), and the per-digit details."""

    digits: str
    confidence: float  # product of the per-digit top probabilities: the chance the whole string is right
    items: list[DigitReading] = field(default_factory=list)
    path: str | None = None
    crops: list[np.ndarray] = field(default_factory=list, repr=False)  # the 28x28 images classified
    accepted: bool = True  # confidence >= min_confidence (always True without one; False when nothing was read)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "digits": self.digits, "confidence": self.confidence, "accepted": self.accepted,
                "items": [item.to_json() for item in self.items]}

    def _repr_html_(self) -> str:  # Jupyter: the string, a per-digit table, each crop with its probabilities
        from digitlab.notebook.display import reading_html

        return reading_html(self)

    def _repr_png_(self) -> bytes:
        from digitlab.notebook.display import reading_png

        return reading_png(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from digitlab.notebook.display import reading_text

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
    """Turn per-crop class probabilities (left to right) into one Reading: string, top-k, confidence, and
    whether it and each digit are accepted at ``min_confidence`` (see the module's docstring)."""
    probs = np.round(np.asarray(probs, dtype=np.float64), 6)  # whole arrays at once: this runs per request
    orders = np.argsort(-probs, axis=1, kind="stable")[:, :max(1, top_k)]
    items = []
    for p, order, box in zip(probs.tolist(), orders.tolist(), boxes, strict=True):
        best = order[0]
        accepted = min_confidence is None or p[best] >= min_confidence
        items.append(DigitReading(best, p, [{"digit": d, "p": p[d]} for d in order], box, accepted))
    text = "".join(classes[i.digit] if i.accepted else DOUBTFUL for i in items)
    confidence = round(float(np.prod([max(i.probs) for i in items])), 6) if items else 0.0
    accepted = bool(items) and (min_confidence is None or confidence >= min_confidence)
    return Reading(text, confidence, items, path, list(crops) if crops is not None else [], accepted)


def recognize(image: Any, model: str | Classifier = "default", multi: bool | None = None, top_k: int = 3,
              min_confidence: float | None = None, max_pixels: int | None = None,
              verifier: Any = SHIPPED) -> Reading:
    """Read the digit(s) in an image: a path, bytes, a file object, a PIL image or a numpy array.

    ``multi``: True for a number, False for one digit, None to decide from the ink's shape. A (28, 28)
    array is taken as an MNIST-ready digit and classified as is. ``verifier``: the model that tells
    segmentation whether a candidate piece is one whole digit (the shipped ``piece-verifier`` by default;
    None: the recognizer's confidence alone).

    >>> digitlab.recognize("docs/number.png").digits     # doctest: +SKIP
    '2026'
    """
    model = _model(model)
    crops, boxes = find_digit_crops(image, model, multi, max_pixels, verifier)
    return read_crops(model, crops, boxes, top_k, min_confidence)
