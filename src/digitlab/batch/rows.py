"""One output row per file: read the bytes, find the 28x28 digits, classify them in batches, make the row.

The two halves run apart on Ray (decoding in tasks, classifying in an actor pool) and together in a local
worker; both give the row ``digitlab.recognize`` would give for that file with the same model:

    path: str, digits: str | None, confidence: float | None, probs: [[float x classes] per digit] | None,
    boxes: [[left, top, right, bottom] per digit] | None, error: str | None (None when it was read)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitlab.errors import DigitlabError

COLUMNS = ("path", "digits", "confidence", "probs", "boxes", "error")


@dataclass
class Decoded:
    """A file's digits ready for the classifier, or why there are none."""

    path: str
    crops: np.ndarray = field(default_factory=lambda: np.zeros((0, 28, 28), np.uint8))  # uint8 (N, 28, 28)
    boxes: list[list[int] | None] = field(default_factory=list)
    error: str | None = None


@functools.lru_cache(maxsize=4)
def worker_classifier(model: str, runtime: str = "auto") -> Any:
    """The classifier one worker keeps for its lifetime: ONNX Runtime where the model has its checked
    ``model.onnx``, on one thread (the workers are the parallelism; more threads would only fight them)."""
    from digitlab.inference.classifier import TorchClassifier, load_classifier
    from digitlab.utils.threads import use_threads

    with use_threads(1):
        classifier = load_classifier(model, runtime=runtime)
    if isinstance(classifier, TorchClassifier):
        classifier.threads = 1
    return classifier


def decode_file(path: str, file: str, scorer: Any, multi: bool | None = None) -> Decoded:
    """Read ``file`` as bytes and find its digits (``path``: the name its row carries).

    ``scorer`` (the classifier) only breaks near-ties in segmentation, as in ``digitlab.recognize``.
    Never raises for a bad file: its error goes in the result.
    """
    from digitlab.vision.crops import find_digit_crops

    try:
        with open(file, "rb") as f:
            data = f.read()
    except OSError as e:
        return Decoded(path, error=f"cannot read ({e.strerror or e})")
    if not data:
        return Decoded(path, error="empty file")
    try:
        crops, boxes = find_digit_crops(data, scorer, multi)
    except DigitlabError as e:
        return Decoded(path, error=str(e).removeprefix("image data: "))
    except Exception as e:  # noqa: BLE001 - one odd file must not end a job over millions
        return Decoded(path, error=f"unexpected {type(e).__name__}: {e}")
    return Decoded(path, np.ascontiguousarray(crops, dtype=np.uint8), boxes)


def classify(decoded: list[Decoded], classifier: Any, min_confidence: float | None = None) -> list[dict[str, Any]]:
    """The rows for decoded files: every file's digits classified in one ``predict_proba`` call."""
    from digitlab.vision.reader import reading_from_probs

    good = [d for d in decoded if d.error is None]
    probs = classifier.predict_proba(np.concatenate([d.crops for d in good])) if good else None
    rows, start = [], 0
    for item in decoded:
        if item.error is not None:
            rows.append(error_row(item.path, item.error))
            continue
        count = len(item.crops)
        reading = reading_from_probs(classifier.classes, probs[start:start + count], item.boxes,
                                     min_confidence=min_confidence)
        start += count
        rows.append({"path": item.path, "digits": reading.digits, "confidence": reading.confidence,
                     "probs": [d.probs for d in reading.items], "boxes": [d.box for d in reading.items],
                     "error": None})
    return rows


def error_row(path: str, error: str) -> dict[str, Any]:
    return {"path": path, "digits": None, "confidence": None, "probs": None, "boxes": None, "error": error}


def read_files(paths: list[str], files: list[str], model: str = "default", runtime: str = "auto",
               multi: bool | None = None, min_confidence: float | None = None) -> list[dict[str, Any]]:
    """Rows for a chunk of files in this process: decode each, classify all their digits at once."""
    classifier = worker_classifier(model, runtime)
    decoded = [decode_file(p, f, classifier, multi) for p, f in zip(paths, files, strict=True)]
    return classify(decoded, classifier, min_confidence)
