"""From an image to the 28x28 digits a classifier reads: decode, find the ink, segment, normalise.

The model takes part only as a scorer: where segmentation is unsure whether to split a blob, it keeps the
reading the model is surer of.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from digitlab.errors import NoInkError
from digitlab.inference.inputs import as_uint8_images

TUNED_SHARPNESS = 0.4333  # the shipped default's calibration temperature (model.json: 0.433303), see piece_confidence


class Prober(Protocol):
    """Anything that gives class probabilities for (N, 28, 28) crops: a Classifier, an ONNX Runtime session..."""

    def predict_proba(self, images: object) -> np.ndarray: ...


def piece_confidence(model: Prober) -> Callable[[np.ndarray], np.ndarray]:
    """How sure ``model`` is of each candidate crop, on the scale segmentation's costs were tuned on.

    Those costs were tuned on the label-smoothed shipped ``default``'s own probabilities, which are its calibrated
    ones raised to the power ``TUNED_SHARPNESS`` (its temperature) and renormalised. A calibrated model's
    probabilities are brought to that scale the same way, so a sharp network (trained without label smoothing)
    does not make every sliver look like a sure digit; ``default`` itself scores exactly as before. A model
    without calibration is scored on its own probabilities.
    """
    if not _calibrated(model):  # as before: the network's own probabilities (an ensemble's members' own, averaged)
        proba = getattr(model, "uncalibrated_proba", model.predict_proba)
        return lambda x: proba(x).max(axis=1)

    def confidence(x: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(model.predict_proba(x), np.float64), 1e-12, 1.0) ** TUNED_SHARPNESS
        return p.max(axis=1) / p.sum(axis=1)

    return confidence


def _calibrated(model: object) -> bool:
    members = getattr(model, "members", None)  # an ensemble: calibrated when every member is
    if members:
        return all(_calibrated(m) for m in members)
    return bool((getattr(model, "meta", None) or {}).get("calibration"))


def looks_like_mnist(grey: np.ndarray) -> bool:
    """A 28x28 image already in MNIST's form: light ink on a black ground (the border), some of it bright.

    Such an image (an MNIST digit saved as PNG, a client's own crop) is classified as it is: re-cropping
    and re-centring would only blur it. Anything else, 28x28 dark-on-light included, is preprocessed.
    """
    if grey.shape != (28, 28):
        return False
    border = np.concatenate([grey[:2].ravel(), grey[-2:].ravel(), grey[2:-2, :2].ravel(), grey[2:-2, -2:].ravel()])
    return float(border.mean()) <= 16.0 and int(grey.max()) >= 128


def find_digit_crops(image: Any, model: Prober, multi: bool | None = None,
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
    crops = extract_digits(decoded.grey, multi=multi, scorer=piece_confidence(model))
    if not crops:
        raise NoInkError("no ink found")
    return np.stack([c.image for c in crops]), [list(c.box.scaled(decoded.scale)) for c in crops]
