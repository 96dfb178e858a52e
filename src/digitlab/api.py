"""The Python API, re-exported from ``digitlab``: train, load, evaluate, recognize."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from digitlab.errors import DigitlabError
from digitlab.inference.classifier import Classifier, load_classifier


def train(model: str | None = None, recipe: str | None = None, *, run_dir: str | os.PathLike | None = None,
          device: str = "auto", target_acc: float | None = None, target_split: str = "val",
          data_dir: str | None = None, progress: bool = False, threads: int | str | None = None,
          **overrides: Any) -> Any:
    """Train a model by a named recipe (or the model's default recipe); return a ``TrainResult``.

    Any recipe field can be overridden by keyword (``epochs=``, ``batch_size=``, ``lr=``, ``seed=``, ...).
    ``threads``: intra-op threads; None or "auto" lets digitlab.utils.threads decide from the work and the free CPUs.

    >>> result = digitlab.train("lenet-lite", epochs=1, limit=2000)   # doctest: +SKIP
    >>> result.test_acc, result.run_dir                               # doctest: +SKIP
    (0.87, PosixPath('runs/20261123-120000-seed-001'))
    """
    from digitlab.training.recipes import choose_recipe
    from digitlab.training.run import RunOptions, run_training
    from digitlab.utils.threads import parse_threads

    base = choose_recipe(model, recipe)
    options = RunOptions(device=device, target_acc=target_acc, target_split=target_split, data_dir=data_dir,
                         threads=parse_threads(threads, "threads"))
    return run_training(base.override(**overrides), options, Path(run_dir) if run_dir else None,
                        show_progress=progress)


def load(path_or_name: str | os.PathLike = "default", device: str = "cpu") -> Classifier:
    """Load a trained model: a run directory, a model directory, or a shipped name such as ``"default"``.

    >>> model = digitlab.load("runs/my-run")          # doctest: +SKIP
    >>> model.predict(images)                         # doctest: +SKIP
    array([7, 2, 1, ...])
    """
    return load_classifier(path_or_name, device=device)


def evaluate(model: Classifier | str | os.PathLike, split: str = "test", dataset: str = "mnist",
             data_dir: str | None = None, threads: int | str | None = None) -> Any:
    """Evaluate a model on a dataset split ("test", "val" or "train"); return an ``Evaluation``.

    ``threads``: intra-op threads; None or "auto" lets digitlab.utils.threads decide from the work and the free CPUs.

    >>> digitlab.evaluate("runs/my-run").accuracy     # doctest: +SKIP
    0.9912
    """
    from digitlab.data.datasets import load_dataset
    from digitlab.metrics.evaluation import evaluate_probs
    from digitlab.utils.threads import parse_threads, use_threads

    threads = parse_threads(threads, "threads")
    if not isinstance(model, Classifier):
        model = load(model)
    ds = load_dataset(dataset, data_dir)
    if split == "test":
        digits = ds.test
    elif split in ("val", "train"):
        train, val = ds.split_validation()
        digits = val if split == "val" else train
    else:
        raise DigitlabError(f"unknown split {split!r}; choose test, val or train")
    if len(ds.classes) != len(model.classes):
        raise DigitlabError(f"model has {len(model.classes)} classes but {dataset} has {len(ds.classes)}")
    with use_threads(threads):
        return evaluate_probs(digits.labels, model.predict_proba(digits.images), ds.classes)


def recognize(image: Any, model: str | Classifier = "default", multi: bool | None = None, top_k: int = 3,
              min_confidence: float | None = None) -> Any:
    """Read the digit(s) in a photo, drawing, PIL image or array; return a ``Reading`` (``.digits``, ...).

    >>> digitlab.recognize("docs/number.png").digits     # doctest: +SKIP
    '2026'
    """
    from digitlab.vision.reader import recognize as _recognize

    return _recognize(image, model=model, multi=multi, top_k=top_k, min_confidence=min_confidence)
