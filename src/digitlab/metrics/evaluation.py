"""Metrics from predicted probabilities: accuracy, per-class precision/recall/F1, confusion, mistakes, and how
honest the probabilities are (ECE, risk-coverage: digitlab.metrics.calibration).

NumPy only: every model (torch or the from-scratch NumPy net) hands over an (N, C) matrix of class
probabilities, and everything downstream (reports, the CLI, benchmarks) reads an ``Evaluation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from digitlab.data.datasets import MNIST_CLASSES
from digitlab.errors import DataError, ModelError
from digitlab.metrics.calibration import CalibrationSummary, calibration_summary

# Rows must sum to 1 within this for the cross-entropy to mean anything (float32 softmax is ~1e-6 off);
# per-class sigmoid outputs (the Nielsen net) do not, and get loss None.
PROB_SUM_TOLERANCE = 1e-3
LOG_FLOOR = 1e-12  # a probability of exactly 0 on the true class costs -log(1e-12) ~ 27.6, not inf


@dataclass
class Evaluation:
    """The result of comparing predictions with true labels on one split."""

    accuracy: float
    n: int
    classes: tuple[str, ...]
    per_class: list[dict]  # {"class", "precision", "recall", "f1", "support"}, one per class, in class order
    confusion: np.ndarray  # (C, C) int64: rows = true class, columns = predicted class
    mistakes: list[dict]  # {"index", "true", "pred", "confidence"}, most confident first
    loss: float | None  # mean cross-entropy of the probabilities; None when they are not a distribution
    calibration: CalibrationSummary | None = None  # ECE, reliability bins, risk-coverage of the top probability

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the classes that occur in the labels or the predictions (as scikit-learn does)."""
        seen = (self.confusion.sum(axis=0) + self.confusion.sum(axis=1)) > 0
        f1 = np.array([row["f1"] for row in self.per_class])
        return float(f1[seen].mean()) if seen.any() else 0.0

    @property
    def errors(self) -> int:
        return int(self.n - np.trace(self.confusion))

    def to_json(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "n": self.n,
            "errors": self.errors,
            "loss": self.loss,
            "macro_f1": self.macro_f1,
            "classes": list(self.classes),
            "per_class": [dict(row) for row in self.per_class],
            "confusion": self.confusion.tolist(),
            "mistakes": [dict(m) for m in self.mistakes],
            **(self._calibration_json() if self.calibration is not None else {}),
        }

    def _calibration_json(self) -> dict:
        doc = self.calibration.to_json()
        return {"ece": doc["ece"], "coverage": doc["coverage"], "target_accuracy": doc["target_accuracy"],
                "coverage_at_target": doc["coverage_at_target"],
                "min_confidence_at_target": doc["min_confidence_at_target"], "reliability": doc["bins"]}

    def _repr_html_(self) -> str:  # Jupyter: per-class and confusion tables beside the heatmap
        from digitlab.notebook.display import evaluation_html

        return evaluation_html(self)

    def _repr_png_(self) -> bytes:
        from digitlab.notebook.display import confusion_png

        return confusion_png(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from digitlab.notebook.display import evaluation_text

        printer.text(evaluation_text(self))

    def confusion_text(self) -> str:
        """The confusion matrix as labelled rows of counts, then the accuracy line."""
        names = list(self.classes)
        columns = names
        if max(len(n) for n in names) > 3:  # long names ("Ankle boot"): number the columns, name the rows
            columns = [str(i) for i in range(len(names))]
            names = [f"{i} {n}" for i, n in enumerate(names)]
        corner = "true\\pred"
        label_width = max(len(corner), *(len(n) for n in names))
        cell = max(*(len(c) for c in columns), len(str(int(self.confusion.max(initial=0)))))
        lines = [corner.ljust(label_width) + " " + " ".join(c.rjust(cell) for c in columns)]
        for name, row in zip(names, self.confusion, strict=True):
            lines.append(name.ljust(label_width) + " " + " ".join(str(int(v)).rjust(cell) for v in row))
        lines.append(f"accuracy {self.accuracy:.2%} ({self.n - self.errors}/{self.n} correct)")
        return "\n".join(lines)

    def summary_text(self) -> str:
        """Accuracy, macro F1, loss, ECE, a per-class precision/recall/F1/support table, then the coverage table."""
        loss = "n/a" if self.loss is None else f"{self.loss:.4f}"
        ece = "" if self.calibration is None else f"   ECE {self.calibration.ece:.2%}"
        lines = [
            f"accuracy {self.accuracy:.2%} on {self.n} images ({self.errors} errors)",
            f"macro F1 {self.macro_f1:.4f}   loss {loss}{ece}",
            "",
        ]
        width = max(len("class"), *(len(str(c)) for c in self.classes))
        lines.append(f"{'class':<{width}}  precision  recall      f1  support")
        for row in self.per_class:
            lines.append(f"{row['class']:<{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}"
                         f"  {row['f1']:6.4f}  {row['support']:7d}")
        if self.calibration is not None:
            lines += ["", "accepting only the most confident (risk-coverage):",
                      *self.calibration.summary_text().splitlines()[1:]]
        return "\n".join(lines)


def evaluate_probs(labels: np.ndarray, probs: np.ndarray, classes: Sequence[str] = MNIST_CLASSES,
                   top_mistakes: int = 36) -> Evaluation:
    """Score ``probs`` (N, C) against integer ``labels`` (N,); the prediction is the argmax of each row."""
    labels = np.asarray(labels)
    probs = np.asarray(probs, dtype=np.float64)
    classes = tuple(str(c) for c in classes)
    n_classes = len(classes)
    if probs.ndim != 2 or probs.shape[1] != n_classes:
        raise ModelError(f"expected probabilities of shape (N, {n_classes}) for {n_classes} classes, "
                         f"got {probs.shape}")
    if labels.ndim != 1 or len(labels) != len(probs):
        raise DataError(f"{labels.shape} labels do not match {len(probs)} rows of probabilities")
    if len(labels) == 0:
        raise DataError("nothing to evaluate: no labels")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"labels must be integers, got {labels.dtype}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise DataError(f"labels must be in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}")
    if np.isnan(probs).any():
        raise ModelError("the model produced NaN probabilities")

    labels = labels.astype(np.int64)
    preds = probs.argmax(axis=1)
    confusion = np.bincount(labels * n_classes + preds, minlength=n_classes * n_classes)
    confusion = confusion.reshape(n_classes, n_classes).astype(np.int64)

    return Evaluation(
        accuracy=float(np.mean(preds == labels)),
        n=len(labels),
        classes=classes,
        per_class=_per_class(confusion, classes),
        confusion=confusion,
        mistakes=_most_confident_mistakes(labels, preds, probs, top_mistakes),
        loss=_cross_entropy(labels, probs),
        calibration=calibration_summary(probs, labels),
    )


def _per_class(confusion: np.ndarray, classes: tuple[str, ...]) -> list[dict]:
    true_pos = np.diag(confusion)
    predicted = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    rows = []
    for c, name in enumerate(classes):
        # A class never predicted (or never present) scores 0, not NaN: a report must stay printable.
        precision = true_pos[c] / predicted[c] if predicted[c] else 0.0
        recall = true_pos[c] / support[c] if support[c] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": name, "precision": float(precision), "recall": float(recall), "f1": float(f1),
                     "support": int(support[c])})
    return rows


def _most_confident_mistakes(labels: np.ndarray, preds: np.ndarray, probs: np.ndarray, top: int) -> list[dict]:
    wrong = np.flatnonzero(preds != labels)
    confidence = probs[wrong, preds[wrong]]
    # Stable sort on -confidence: equal confidences keep dataset order, so the list is reproducible.
    order = wrong[np.argsort(-confidence, kind="stable")][: max(top, 0)]
    return [{"index": int(i), "true": int(labels[i]), "pred": int(preds[i]), "confidence": float(probs[i, preds[i]])}
            for i in order]


def _cross_entropy(labels: np.ndarray, probs: np.ndarray) -> float | None:
    is_distribution = (np.isfinite(probs).all() and probs.min() >= 0
                       and np.allclose(probs.sum(axis=1), 1.0, atol=PROB_SUM_TOLERANCE))
    if not is_distribution:
        return None
    true_prob = probs[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(true_prob, LOG_FLOOR)).mean())
