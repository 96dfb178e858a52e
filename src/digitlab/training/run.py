"""A training run from recipe to report: data -> model -> fit -> test once -> files in the run directory.

Run directory: config.json, model.safetensors + model.json, metrics.jsonl (one line per epoch),
checkpoint.pt (torch models; for --resume), report.md, report.json, curves.png, confusion.png, errors.png.
config.json and the report record the threads the run chose (digitlab.utils.threads).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitlab import __version__
from digitlab.data.datasets import Digits, load_dataset
from digitlab.errors import DigitlabError
from digitlab.inference.classifier import Classifier, wrap
from digitlab.inference.normalization import Normalization
from digitlab.models.registry import create_model, get_spec, model_args, model_class
from digitlab.training.recipes import TEST_SELECTION_NOTE, Recipe
from digitlab.utils.fileio import atomic_write_json, atomic_write_text
from digitlab.utils.threads import parse_threads

CONFIG = "config.json"
METRICS = "metrics.jsonl"


@dataclass
class TrainResult:
    """What ``digitlab.train`` returns: where the run lives, its figures, and the trained model."""

    run_dir: Path
    recipe: Recipe
    model: Classifier
    history: list[dict]
    best_val_acc: float
    test_acc: float
    train_seconds: float
    time_to_target_s: float | None
    evaluation: Any
    threads: dict[str, int] | None = None  # intra-op/BLAS threads of the training steps and the evaluation

    def to_json(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "model": self.recipe.model, "recipe": self.recipe.name,
                "epochs_run": len(self.history), "best_val_acc": self.best_val_acc, "test_acc": self.test_acc,
                "train_seconds": round(self.train_seconds, 4), "time_to_target_s": self.time_to_target_s,
                "threads": self.threads, "report": str(self.run_dir / "report.md")}

    def _repr_html_(self) -> str:  # Jupyter: summary and per-epoch tables, then the curves
        from digitlab.notebook.display import train_result_html

        return train_result_html(self)

    def _repr_png_(self) -> bytes:
        from digitlab.notebook.display import curves_png

        return curves_png(self.history)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython's text form: one line, not every field
        from digitlab.notebook.display import train_result_text

        printer.text(train_result_text(self))


@dataclass(frozen=True)
class RunOptions:
    device: str = "auto"
    target_acc: float | None = None
    target_split: str = "val"
    data_dir: str | None = None
    threads: int | None = None  # None: digitlab.utils.threads decides from the work and the free CPUs

    def validate(self) -> None:
        parse_threads(self.threads)
        if self.target_split not in ("val", "test"):
            raise DigitlabError(f"--target-split must be val or test, not {self.target_split!r}")
        if self.target_acc is not None and not 0 < self.target_acc <= 1:
            raise DigitlabError(f"--target-acc must be a fraction in (0, 1], e.g. 0.99; got {self.target_acc}")


def new_run_dir(recipe: Recipe, root: Path = Path("runs")) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        path = root / (f"{stamp}-{recipe.name}" + (f"-{i}" if i else ""))
        if not path.exists():
            return path
    raise DigitlabError(f"cannot find a free run directory under {root}")


def prepare_data(recipe: Recipe, data_dir: str | None, progress: Any = None) -> tuple[Digits, Digits, Digits, Any]:
    """(train, val, test, dataset) with the recipe's selection applied."""
    ds = load_dataset(recipe.dataset, data_dir, progress=progress)
    train, val = ds.split_validation(recipe.val_size)
    classes = list(recipe.classes) if recipe.classes is not None else None
    train = train.select(classes, recipe.per_class, recipe.limit)
    val = val.select(classes) if classes else val
    test = ds.test.select(classes) if classes else ds.test
    if len(train) == 0 or len(val) == 0:
        raise DigitlabError("the selection leaves no training or validation images")
    if classes:  # a k-class problem: labels become 0..k-1, outputs k
        train, val, test = (d.relabel(classes) for d in (train, val, test))
    return train, val, test, ds


def _write_metrics(run_dir: Path, history: list[dict]) -> None:
    atomic_write_text(run_dir / METRICS, "".join(json.dumps(r) + "\n" for r in history))


def _fit_numpy(recipe: Recipe, net: Any, train: Digits, val: Digits, run_dir: Path, show_progress: bool,
               plan: dict[str, int]) -> list[dict]:
    from digitlab.utils.console import err

    history: list[dict] = []

    def on_epoch(record: dict) -> None:
        history.append(record)
        _write_metrics(run_dir, history)
        if show_progress:
            err.print(f"epoch {record['epoch']}/{recipe.epochs}  loss {record['train_loss']:.4f}  "
                      f"acc {record['train_acc']:.2%}  val acc {record['val_acc']:.2%}  ({record['seconds']:.1f} s)")

    net.fit(train, val, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr, on_epoch=on_epoch,
            plan=plan)
    return history


def run_training(recipe: Recipe, options: RunOptions = RunOptions(), run_dir: Path | None = None,
                 resume: Path | None = None, show_progress: bool = False, report: bool = True) -> TrainResult:
    """Train by ``recipe`` (or resume the run in ``resume``) and write the whole run directory."""
    from digitlab.metrics.evaluation import evaluate_probs

    if resume is not None:
        resume = Path(resume)
        try:
            config = json.loads((resume / CONFIG).read_text())
            recipe = Recipe.from_json(config["recipe"])
            options = RunOptions(**config["options"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DigitlabError(f"{resume}: not a resumable run directory ({e})") from None
        run_dir = resume
    else:
        recipe.validate()
        options.validate()
        run_dir = Path(run_dir) if run_dir is not None else new_run_dir(recipe)
        if (run_dir / CONFIG).exists():
            raise DigitlabError(f"{run_dir} already holds a run; use --resume {run_dir} or another --run-dir")
    spec = get_spec(recipe.model)
    train, val, test, ds = prepare_data(recipe, options.data_dir)
    norm = Normalization.named(recipe.normalization)
    model_kwargs = dict(recipe.model_args)
    if recipe.classes and spec.family == "torch":
        model_kwargs.setdefault("num_classes", len(recipe.classes))
    elif recipe.classes:
        sizes = model_kwargs.get("sizes", spec.defaults["sizes"])
        model_kwargs["sizes"] = (*sizes[:-1], len(recipe.classes))
    args = model_args(recipe.model, **model_kwargs)
    data_info = {"dataset": ds.name, "md5": ds.checksums, "train": len(train), "val": len(val), "test": len(test)}
    if spec.family == "numpy":
        net = create_model(recipe.model, **{**args, "seed": recipe.seed})
        plan = net.thread_plan(recipe.batch_size, options.threads)
    else:
        import torch

        from digitlab.training.engine import thread_plan

        torch.manual_seed(recipe.seed)
        module = create_model(recipe.model, **args)
        plan = thread_plan(module, recipe.batch_size, options.threads)
    if resume is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / CONFIG, {"recipe": recipe.to_json(), "options": options.__dict__,
                                             "data": data_info, "threads": plan, "digitlab_version": __version__})

    if spec.family == "numpy":
        history = _fit_numpy(recipe, net, train, val, run_dir, show_progress, plan)
        seconds = sum(r["seconds"] for r in history)
        best_val = max(r["val_acc"] for r in history)
        ttt = None
        if options.target_acc is not None:
            elapsed = 0.0
            for r in history:
                elapsed += r["seconds"]
                if r["val_acc"] >= options.target_acc:
                    ttt = elapsed
                    break
        model_obj = net
        args = {**args, **net.get_params()}
    else:
        from digitlab.training.engine import CHECKPOINT, Target, fit, load_checkpoint, pick_device

        device = pick_device(options.device)
        checkpoint = load_checkpoint(run_dir / CHECKPOINT) if resume is not None else None
        target = Target(options.target_acc, options.target_split) if options.target_acc is not None else None
        history: list[dict] = []

        def on_epoch(record: dict) -> None:
            history.append(record)
            _write_metrics(run_dir, history)

        if checkpoint is not None:
            history.extend(checkpoint["history"])
        state = fit(module, recipe, train, val, device=device, run_dir=run_dir, target=target, test=test,
                    show_progress=show_progress, on_epoch=on_epoch, resume=checkpoint, plan=plan)
        _write_metrics(run_dir, state.history)
        history, seconds, best_val, ttt = state.history, state.train_seconds, state.best_val_acc, state.time_to_target_s
        model_obj = module

    meta = {"recipe": recipe.name, "data": data_info, "outputs": "probs" if recipe.loss == "nll-on-probs" else "logits"}
    classifier = wrap(model_obj, recipe.model, args, test.classes, norm, meta)
    evaluation = evaluate_probs(test.labels, classifier.predict_proba(test.images), test.classes)
    result = TrainResult(run_dir, recipe, classifier, history, best_val, evaluation.accuracy, seconds, ttt, evaluation,
                         plan)
    classifier.save(run_dir, extra={"metrics": {"test_acc": evaluation.accuracy, "best_val_acc": best_val,
                                                "epochs": len(history)}})
    if not report:  # benchmarks: the model files are enough
        return result
    from digitlab.training.report import write_report  # matplotlib: 1.5 s of imports that a run without a report skips

    notes = [TEST_SELECTION_NOTE, *recipe.notes]
    if recipe.published:
        notes.append(f"Published figure for {recipe.reproduces}: {recipe.published}.")
    summary = {k: v for k, v in result.to_json().items() if k not in ("run_dir", "report")}
    if options.target_acc is not None:
        summary["target_acc"] = options.target_acc
    # A model class may add figures of its own (the hybrid models: the seed's "Hybrid NN Training Convergence").
    report_plots = getattr(model_class(recipe.model), "report_plots", None)
    write_report(run_dir, title=f"{recipe.name}: {spec.description}", config=recipe.to_json(), history=history,
                 evaluation=evaluation, images=test.images, summary=summary, notes=notes,
                 extra_plots=report_plots(history) if report_plots else None)
    return result
