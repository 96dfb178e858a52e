"""Are the probabilities honest, and what does rejecting the doubtful cases buy? NumPy only.

* Expected calibration error (ECE): the top probability of each image put in 15 equal-width bins over [0, 1];
  the gap between each bin's mean confidence and its accuracy, weighted by its share of images.
* Risk-coverage: sort the images by confidence, most sure first; keeping the top share ``c`` of them
  (coverage) leaves an accuracy; a reject option (``--min-confidence``) is a point on that curve.

>>> summary = calibration_summary(probs, labels)         # doctest: +SKIP
>>> summary.ece, summary.accuracy_at(0.98)                # doctest: +SKIP
(0.0041, 0.9996)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from digitlab.errors import DataError

BINS = 15
COVERAGES = (1.0, 0.99, 0.98, 0.95, 0.90)  # the coverage table of `digitlab eval` (0.98: the reject goal's point)
TARGET_ACCURACY = 0.9995  # issue 15: the accuracy a forms pipeline asks of what it accepts


def _top(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or labels.ndim != 1 or len(probs) != len(labels):
        raise DataError(f"need (N, C) probabilities and N labels; got {probs.shape} and {labels.shape}")
    if len(labels) == 0:
        raise DataError("nothing to measure: no labels")
    return probs.max(axis=1), probs.argmax(axis=1) == labels


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> list[dict]:
    """One row per equal-width bin of the top probability: ``lower``, ``upper``, ``count``, ``confidence`` (mean
    top probability) and ``accuracy`` (the last two None for an empty bin). Bin i holds (i/bins, (i+1)/bins],
    the first also 0."""
    return _bins(*_top(probs, labels), bins)


def _bins(confidence: np.ndarray, correct: np.ndarray, bins: int) -> list[dict]:
    edges = np.arange(bins + 1) / bins  # k / bins exactly as a caller writes it: 9 / 15 falls in (8/15, 9/15]
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    right = np.bincount(index, weights=correct.astype(np.float64), minlength=bins)
    return [{"lower": i / bins, "upper": (i + 1) / bins, "count": int(count[i]),
             "confidence": float(conf_sum[i] / count[i]) if count[i] else None,
             "accuracy": float(right[i] / count[i]) if count[i] else None} for i in range(bins)]


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """ECE of the top probability over ``bins`` equal-width bins (0: every bin's accuracy equals its confidence).

    >>> round(expected_calibration_error(np.array([[0.8, 0.2]] * 10), np.array([0] * 8 + [1] * 2)), 9)
    0.0
    """
    return calibration_summary(probs, labels, bins).ece


def risk_coverage(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coverage, accuracy, threshold), each (N,): keeping the k most confident images (k = 1..N; ties in
    dataset order) covers k/N of them, with that accuracy; ``threshold`` is the k-th image's top probability,
    the least a kept image had."""
    return _curve(*_top(probs, labels))


def _curve(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-confidence, kind="stable")
    kept = np.arange(1, len(order) + 1)
    return kept / len(order), np.cumsum(correct[order]) / kept, confidence[order]


@dataclass
class CalibrationSummary:
    """ECE, the reliability bins and the risk-coverage curve of one set of predictions."""

    ece: float
    bins: list[dict]
    coverage: np.ndarray = field(repr=False)  # (N,) k/N
    accuracy: np.ndarray = field(repr=False)  # (N,) accuracy of the k most confident
    threshold: np.ndarray = field(repr=False)  # (N,) the k-th largest top probability
    target: float = TARGET_ACCURACY

    def accuracy_at(self, coverage: float) -> float:
        """Accuracy on the most confident ``coverage`` share (the smallest k with k/N >= coverage)."""
        k = min(len(self.coverage), max(1, math.ceil(round(coverage * len(self.coverage), 9))))
        return float(self.accuracy[k - 1])

    def coverage_for(self, accuracy: float | None = None) -> float:
        """The largest coverage whose accuracy is at least ``accuracy`` (default ``target``); 0.0 if none."""
        goal = self.target if accuracy is None else accuracy
        ok = np.flatnonzero(self.accuracy >= goal - 1e-12)
        return float(self.coverage[ok[-1]]) if len(ok) else 0.0

    def threshold_for(self, accuracy: float | None = None) -> float | None:
        """The ``--min-confidence`` that keeps ``coverage_for(accuracy)``: the least top probability kept."""
        goal = self.target if accuracy is None else accuracy
        ok = np.flatnonzero(self.accuracy >= goal - 1e-12)
        return float(self.threshold[ok[-1]]) if len(ok) else None

    def coverage_table(self, coverages: tuple[float, ...] = COVERAGES) -> list[dict]:
        """Rows {"coverage", "accuracy", "errors", "min_confidence"} at each coverage."""
        rows = []
        n = len(self.coverage)
        for c in coverages:
            k = min(n, max(1, math.ceil(round(c * n, 9))))
            rows.append({"coverage": c, "accuracy": float(self.accuracy[k - 1]),
                         "errors": int(round(k * (1 - self.accuracy[k - 1]))),
                         "min_confidence": float(self.threshold[k - 1])})
        return rows

    def to_json(self) -> dict:
        return {"ece": self.ece, "bins": [dict(b) for b in self.bins], "coverage": self.coverage_table(),
                "target_accuracy": self.target, "coverage_at_target": self.coverage_for(),
                "min_confidence_at_target": self.threshold_for()}

    def summary_text(self) -> str:
        """ECE, then the coverage table and the coverage at the target accuracy."""
        lines = [f"ECE {self.ece:.2%} ({len(self.bins)} bins)", "coverage  accuracy  errors  min-confidence"]
        for row in self.coverage_table():
            lines.append(f"{row['coverage']:>7.0%}  {row['accuracy']:8.2%}  {row['errors']:6d}  "
                         f"{row['min_confidence']:.6f}")
        threshold = self.threshold_for()
        at = "no coverage" if threshold is None else f"{self.coverage_for():.2%} coverage " \
                                                     f"(min-confidence {threshold:.6f})"
        lines.append(f"accuracy >= {self.target:.2%} at {at}")
        return "\n".join(lines)


def calibration_summary(probs: np.ndarray, labels: np.ndarray, bins: int = BINS,
                        target: float = TARGET_ACCURACY) -> CalibrationSummary:
    """ECE, reliability bins and the risk-coverage curve of ``probs`` (N, C) against integer ``labels`` (N,)."""
    return confidence_summary(*_top(probs, labels), bins, target)


def confidence_summary(confidence: np.ndarray, correct: np.ndarray, bins: int = BINS,
                       target: float = TARGET_ACCURACY) -> CalibrationSummary:
    """The same from each case's stated confidence (N,) and whether it was right (N,): e.g. numbers read from
    photos, each with its reading's confidence and whether the whole string was exactly right."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if confidence.ndim != 1 or confidence.shape != correct.shape or len(confidence) == 0:
        raise DataError(f"need N > 0 confidences and N outcomes; got {confidence.shape} and {correct.shape}")
    rows = _bins(confidence, correct, bins)
    n = len(confidence)
    ece = float(sum(r["count"] / n * abs(r["accuracy"] - r["confidence"]) for r in rows if r["count"]))
    coverage, accuracy, threshold = _curve(confidence, correct)
    return CalibrationSummary(ece, rows, coverage, accuracy, threshold, target)
