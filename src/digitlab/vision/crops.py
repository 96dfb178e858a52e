"""From an image to the 28x28 digits a classifier reads: decode, find the ink, segment, normalise.

The model takes part only as a scorer: where segmentation is unsure whether to split a blob, it keeps the
reading the model is surer of.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from digitlab.errors import NoInkError
from digitlab.inference.inputs import as_uint8_images

TUNED_SHARPNESS = 0.4333  # the shipped default's calibration temperature (model.json: 0.433303), see piece_confidence
VERIFIER = "piece-verifier"  # the shipped model that tells one whole digit from touching digits or part of one
ONE_DIGIT = "one-digit"  # its class for a whole digit
VERIFIER_POWER = 1.0  # weight of its doubt against the recognizer's (tuned on benchmarks/verifier_ab.py's
# development photos, never on seed 2026: 0.5 and 2.0 read within 0.2 pt)
SHIPPED = "shipped"  # find_digit_crops' default verifier: the shipped one, where installed


class Prober(Protocol):
    """Anything that gives class probabilities for (N, 28, 28) crops: a Classifier, an ONNX Runtime session..."""

    def predict_proba(self, images: object) -> np.ndarray: ...


def piece_confidence(model: Prober, verifier: Prober | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """How sure ``model`` is of each candidate crop, on the scale segmentation's costs were tuned on.

    Those costs were tuned on the label-smoothed shipped ``default``'s own probabilities, which are its calibrated
    ones raised to the power ``TUNED_SHARPNESS`` (its temperature) and renormalised. A calibrated model's
    probabilities are brought to that scale the same way, so a sharp network (trained without label smoothing)
    does not make every sliver look like a sure digit; ``default`` itself scores exactly as before. A model
    without calibration is scored on its own probabilities.

    ``verifier`` (the shipped ``piece-verifier``, see ``shipped_verifier``) judges what the recognizer cannot:
    whether a crop is one whole digit at all, rather than two touching digits or part of one (a 9 with a 1
    touching it reads as a sure 9). Its probability of one digit, raised to ``VERIFIER_POWER``, multiplies the
    confidence.
    """
    if not _calibrated(model):  # as before: the network's own probabilities (an ensemble's members' own, averaged)
        proba = getattr(model, "uncalibrated_proba", model.predict_proba)

        def recognized(x: np.ndarray) -> np.ndarray:
            return np.asarray(proba(x), np.float64).max(axis=1)
    else:
        def recognized(x: np.ndarray) -> np.ndarray:
            p = np.clip(np.asarray(model.predict_proba(x), np.float64), 1e-12, 1.0) ** TUNED_SHARPNESS
            return p.max(axis=1) / p.sum(axis=1)

    if verifier is None:
        return recognized
    one_digit = list(verifier.classes).index(ONE_DIGIT)

    def confidence(x: np.ndarray) -> np.ndarray:
        whole = np.clip(np.asarray(verifier.predict_proba(x), np.float64)[:, one_digit], 1e-6, 1.0)
        return recognized(x) * whole**VERIFIER_POWER

    return confidence


@functools.lru_cache(maxsize=2)
def shipped_verifier(runtime: str = "auto") -> Prober | None:
    """The shipped piece verifier (``pretrained/piece-verifier``, recipe ``piece-verifier``), loaded once; None
    where it is not installed. ``runtime`` as ``load_classifier``'s."""
    from digitlab.inference.classifier import PRETRAINED_DIR, load_classifier

    if not (PRETRAINED_DIR / VERIFIER).is_dir():
        return None
    return load_classifier(VERIFIER, runtime=runtime)


class _ShippedVerifier:
    """The shipped verifier, loaded when first asked: a single digit, or digits apart, never need it. Where it is
    not installed every piece is one digit to it, so segmentation weighs the recognizer alone."""

    classes = ("not-one-digit", ONE_DIGIT)

    def predict_proba(self, images: object) -> np.ndarray:
        # ONNX Runtime where torch is not loaded (the service's fast lane never imports it), torch otherwise.
        verifier = shipped_verifier("torch" if "torch" in sys.modules else "auto")
        if verifier is None:
            return np.tile(np.array([0.0, 1.0], np.float32), (len(images), 1))  # type: ignore[arg-type]
        probs = np.asarray(verifier.predict_proba(images))
        return probs[:, [verifier.classes.index(name) for name in self.classes]]


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


def find_digit_crops(image: Any, model: Prober, multi: bool | None = None, max_pixels: int | None = None,
                     verifier: Prober | str | None = SHIPPED) -> tuple[np.ndarray, list[list[int] | None]]:
    """The 28x28 uint8 digits in an image, left to right, and their boxes in the image's pixels.

    A (28, 28) array is taken as an MNIST-ready digit as it is (uint8, or floats in 0..1 or 0..255), and
    so is a 28x28 image that ``looks_like_mnist``. Raises ImageError for an unreadable image or one without ink.
    ``verifier``: the piece verifier segmentation consults (``piece_confidence``): the shipped one by default,
    another model, or None for the recognizer alone.
    """
    from digitlab.vision import DEFAULT_MAX_PIXELS, WORK_SIDE, extract_digits, read_image

    if isinstance(image, np.ndarray) and image.shape == (28, 28):
        return as_uint8_images(image), [None]
    decoded = read_image(image, max_pixels=max_pixels or DEFAULT_MAX_PIXELS, max_side=WORK_SIDE)
    if looks_like_mnist(decoded.grey):
        return decoded.grey[None], [[0, 0, 28, 28]]
    # The model breaks near-ties in segmentation: split or keep whole, whichever it reads more surely.
    if verifier == SHIPPED:
        verifier = _ShippedVerifier()
    crops = extract_digits(decoded.grey, multi=multi, scorer=piece_confidence(model, verifier))
    if not crops:
        raise NoInkError("no ink found")
    return np.stack([c.image for c in crops]), [list(c.box.scaled(decoded.scale)) for c in crops]
