"""The Python API, re-exported from ``digitlab``: train, load, evaluate, recognize.

The result types are imported for type checkers only (``TYPE_CHECKING``): each function imports what it runs
when called, so ``import digitlab`` stays cheap and the NumPy path never imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitlab.errors import DigitlabError
from digitlab.inference.classifier import Classifier, load_classifier

if TYPE_CHECKING:
    from digitlab.metrics.evaluation import Evaluation
    from digitlab.training.run import TrainResult
    from digitlab.vision.reader import Reading


def train(model: str | None = None, recipe: str | None = None, *, run_dir: str | os.PathLike | None = None,
          device: str = "auto", target_acc: float | None = None, target_split: str = "val",
          data_dir: str | None = None, progress: bool = False, threads: int | str | None = None,
          **overrides: Any) -> TrainResult:
    """Train a model by a named recipe (or the model's default recipe) and write its run directory.

    As ``digitlab train``: the run directory gets config.json, metrics.jsonl, the model files and, by
    default, report.md with its figures.

    Parameters
    ----------
    model : str, optional
        A registered model name (``digitlab models``). Default: the recipe's model, or ``"cnn"``.
    recipe : str, optional
        A named recipe (``digitlab recipes``) or a recipe .json file. Default: the model's default recipe.
    run_dir : str or os.PathLike, optional
        Where to write the run. Default: ``runs/STAMP-RECIPE``.
    device : str, default "auto"
        ``"auto"`` (cuda if there is one), ``"cpu"`` or ``"cuda"``.
    target_acc : float, optional
        Stop once this accuracy is reached on ``target_split``. Default: train every epoch.
    target_split : str, default "val"
        ``"val"``, or ``"test"`` (speed benchmarks only).
    data_dir : str, optional
        Data cache directory. Default: ``$DIGITLAB_DATA``, else ``~/.cache/digitlab``.
    progress : bool, default False
        Show training progress as it runs.
    threads : int or str, optional
        Intra-op threads; None or ``"auto"`` lets digitlab.utils.threads decide from the work and the free CPUs.
    **overrides
        Recipe fields to change: ``epochs=``, ``batch_size=``, ``lr=``, ``seed=``, ``limit=``, ...

    Returns
    -------
    TrainResult
        ``.run_dir``, ``.test_acc``, ``.best_val_acc``, ``.history`` (one dict per epoch), ``.evaluation``,
        ``.model`` (the trained ``Classifier``), ``.train_seconds``.

    Raises
    ------
    DigitlabError
        For an unknown model or recipe, or a bad recipe value.

    Examples
    --------
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
    """Load a trained model, rebuilt through the model registry (safetensors weights; nothing is unpickled).

    Parameters
    ----------
    path_or_name : str or os.PathLike, default "default"
        A run directory, a model directory, or a shipped model name such as ``"default"``.
    device : str, default "cpu"
        Where a torch model runs: ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    Classifier
        ``.predict(images)`` (class indices), ``.predict_proba(images)`` (N x classes), ``.classes``;
        images are uint8 or float arrays of shape (N, 28, 28).

    Raises
    ------
    ModelError
        If the path holds no model (the message lists the shipped names) or its files do not fit.

    Examples
    --------
    >>> model = digitlab.load("runs/my-run")          # doctest: +SKIP
    >>> model.predict(images)                         # doctest: +SKIP
    array([7, 2, 1, ...])
    """
    return load_classifier(path_or_name, device=device)


def evaluate(model: Classifier | str | os.PathLike, split: str = "test", dataset: str = "mnist",
             data_dir: str | None = None, threads: int | str | None = None) -> Evaluation:
    """Evaluate a model on one split of a dataset.

    Parameters
    ----------
    model : Classifier, str or os.PathLike
        A loaded model, or what ``load`` takes (a run or model directory, a shipped name).
    split : str, default "test"
        ``"test"``, ``"val"`` (the validation holdout at the end of the training split) or ``"train"``.
    dataset : str, default "mnist"
        ``"mnist"``, ``"fashion-mnist"`` or ``"idx:DIR"``; its class count must match the model's.
    data_dir : str, optional
        Data cache directory. Default: ``$DIGITLAB_DATA``, else ``~/.cache/digitlab``.
    threads : int or str, optional
        Intra-op threads; None or ``"auto"`` lets digitlab.utils.threads decide from the work and the free CPUs.

    Returns
    -------
    Evaluation
        ``.accuracy``, ``.per_class`` (precision, recall, F1, support), ``.confusion``, ``.mistakes`` (most
        confident first), ``.loss``; ``.summary_text()`` and ``.to_json()`` render it.

    Raises
    ------
    DigitlabError
        For an unknown split, or a dataset whose classes do not match the model's.

    Examples
    --------
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
              min_confidence: float | None = None) -> Reading:
    """Read the digit(s) in a photo, a drawing, a PIL image or an array.

    Parameters
    ----------
    image : path, bytes, file object, PIL.Image.Image or numpy.ndarray
        The picture. A (28, 28) array is taken as an MNIST-ready digit and classified as is.
    model : str or Classifier, default "default"
        A loaded model, or what ``load`` takes; the default is the shipped recognizer.
    multi : bool, optional
        True for a number, False for one digit. Default: decide from the ink's shape.
    top_k : int, default 3
        How many candidates each digit lists.
    min_confidence : float, optional
        Write ``?`` for a digit whose top probability is below this. Default: accept every digit.

    Returns
    -------
    Reading
        ``.digits`` (the string read), ``.confidence``, ``.accepted``, ``.items`` (per digit: probabilities,
        top-k, box), ``.crops`` (the 28 x 28 images classified).

    Raises
    ------
    NoInkError
        If the image holds no ink to read (an ImageError; every error here is a DigitlabError).

    Examples
    --------
    >>> digitlab.recognize("docs/number-2026.jpg").digits     # doctest: +SKIP
    '2026'
    """
    from digitlab.vision.reader import recognize as _recognize

    return _recognize(image, model=model, multi=multi, top_k=top_k, min_confidence=min_confidence)
