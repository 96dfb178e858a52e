"""``--check``: run an exported artifact with its own runtime on labelled images and compare with PyTorch."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.errors import DataError
from digitlab.export import get_format, torch_model
from digitlab.inference.inputs import as_unit_images

FP32_MAX_ABS_DIFF = 1e-4  # goal for fp32 formats, with 100% argmax agreement
INT8_MAX_ACCURACY_DROP = 0.001  # goal for int8 formats: within 0.1 point of PyTorch fp32


@dataclass
class CheckResult:
    format: str
    path: str
    images: int
    accuracy: float  # the exported artifact's
    reference_accuracy: float  # PyTorch's, same images
    agreement: float  # fraction of images where both pick the same class
    max_abs_diff: float  # largest |logit difference| over all images and classes
    seconds: float  # running the artifact, including loading/compiling it

    @property
    def goal(self) -> str:
        if get_format(self.format).quantized:
            return f"accuracy within {INT8_MAX_ACCURACY_DROP * 100:g} point of PyTorch fp32"
        return f"100% argmax agreement and max |logit diff| <= {FP32_MAX_ABS_DIFF:g}"

    @property
    def goal_met(self) -> bool:
        if get_format(self.format).quantized:
            return self.accuracy >= self.reference_accuracy - INT8_MAX_ACCURACY_DROP - 1e-12
        return self.agreement == 1.0 and self.max_abs_diff <= FP32_MAX_ABS_DIFF

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "goal": self.goal, "goal_met": self.goal_met}


def evaluation_data(model: Any, dataset: str | None = None, data_dir: str | None = None) -> tuple[Any, Any]:
    """(test, train) Digits of the dataset the model was trained on, restricted to the model's classes."""
    from digitlab.data.datasets import load_dataset

    dataset = dataset or model.meta.get("data", {}).get("dataset") or "mnist"
    ds = load_dataset(dataset, data_dir)
    if tuple(model.classes) == tuple(ds.classes):
        return ds.test, ds.train_full
    missing = [c for c in model.classes if c not in ds.classes]
    if missing:
        raise DataError(f"the model's classes {list(model.classes)} are not all in {dataset} (missing {missing})")
    index = [ds.classes.index(c) for c in model.classes]  # a k-class model: the same subset, relabelled 0..k-1
    return (ds.test.select(index).relabel(index), ds.train_full.select(index).relabel(index))


def reference_logits(model: Any, images: np.ndarray) -> np.ndarray:
    """PyTorch's outputs for uint8 images, through the model's own normalisation."""
    return torch_model(model).logits(as_unit_images(images))


def check_export(fmt: str, path: str | Path, model: Any, images: np.ndarray, labels: np.ndarray,
                 reference: np.ndarray | None = None) -> CheckResult:
    """Run the artifact at ``path`` on uint8 ``images`` and compare it with ``model`` (a TorchClassifier)."""
    spec = get_format(fmt)
    if reference is None:
        reference = reference_logits(model, images)
    start = time.perf_counter()
    logits = np.asarray(spec.load("runner")(Path(path), images, model), dtype=np.float64)
    seconds = time.perf_counter() - start
    predicted, expected = logits.argmax(axis=1), reference.argmax(axis=1)
    labels = np.asarray(labels)
    return CheckResult(format=fmt, path=str(path), images=len(images),
                       accuracy=float((predicted == labels).mean()),
                       reference_accuracy=float((expected == labels).mean()),
                       agreement=float((predicted == expected).mean()),
                       max_abs_diff=float(np.abs(logits - reference).max(initial=0.0)), seconds=seconds)
