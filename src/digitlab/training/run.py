"""A training run from recipe to report: data -> model -> fit -> test once -> files in the run directory.

One path for every model: the fit protocol (training/fit.py) trains a torch module or the NumPy network alike;
the run directory's files are named in training/run_dir.py. config.json and the report record the threads the run
chose (digitlab.utils.threads); a resumed run reuses them, so it ends as the uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitlab import __version__
from digitlab.data.datasets import Digits, load_dataset
from digitlab.errors import DigitlabError
from digitlab.inference.classifier import Classifier, wrap
from digitlab.inference.normalization import Normalization
from digitlab.models.registry import create_model, get_spec, model_args, model_class
from digitlab.training.recipes import Recipe, selection_note
from digitlab.training.run_dir import RunDir
from digitlab.training.state import Target
from digitlab.utils.threads import parse_threads


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
        self.target()

    def target(self) -> Target | None:
        """The early-stop target, validated (a bad split or accuracy raises DigitlabError)."""
        if self.target_acc is None:
            if self.target_split not in ("val", "test"):
                raise DigitlabError(f"--target-split must be val or test, not {self.target_split!r}")
            return None
        return Target(self.target_acc, self.target_split)


def prepare_data(recipe: Recipe, data_dir: str | None, progress: Any = None) -> tuple[Digits, Digits, Digits, Any]:
    """(train, val, test, dataset) with the recipe's selection applied; for a class subset the labels become
    0..k-1 (``test.classes`` names them)."""
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


def build_model(recipe: Recipe) -> tuple[Any, dict[str, Any]]:
    """(the untrained model, its full constructor arguments): the recipe's model_args, ``num_classes`` for a class
    subset, and for the NumPy network the recipe's seed (torch models draw theirs from torch's seeded RNG)."""
    spec = get_spec(recipe.model)
    kwargs = dict(recipe.model_args)
    if recipe.classes:
        kwargs.setdefault("num_classes", len(recipe.classes))
    if spec.family == "numpy":
        kwargs.setdefault("seed", recipe.seed)
    else:
        import torch

        torch.manual_seed(recipe.seed)
    args = model_args(recipe.model, **kwargs)
    return create_model(recipe.model, **args), args


def thread_plan_for(model: Any, recipe: Recipe, threads: int | None) -> dict[str, int]:
    if hasattr(model, "thread_plan"):  # the NumPy network: BLAS threads from its own MACs
        return model.thread_plan(recipe.batch_size, threads)
    from digitlab.training.engine import thread_plan

    return thread_plan(model, recipe.batch_size, threads)


def run_training(recipe: Recipe, options: RunOptions = RunOptions(), run_dir: Path | None = None,
                 resume: Path | None = None, show_progress: bool = False, report: bool = True,
                 on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train by ``recipe`` (or resume the run in ``resume``) and write the whole run directory.

    ``on_epoch(record)`` is called after each epoch, once its metrics are on disk (``digitlab sweep`` prunes
    trials from it: an exception it raises ends the run, leaving the run directory resumable).

    >>> result = run_training(get_recipe("cnn"), RunOptions(device="cpu"))   # doctest: +SKIP
    >>> result.test_acc                                                      # doctest: +SKIP
    0.9932
    """
    from digitlab.metrics.evaluation import evaluate_probs
    from digitlab.training.fit import fit

    config = None
    if resume is not None:
        run = RunDir(resume)
        config = run.read_config()
        try:
            recipe = Recipe.from_json(config["recipe"])
            options = RunOptions(**config["options"])
        except (ValueError, KeyError, TypeError) as e:
            raise DigitlabError(f"{resume}: not a resumable run directory ({e})") from None
    else:
        recipe.validate()
        options.validate()
        run = RunDir(run_dir) if run_dir is not None else RunDir.new(recipe.name)
        if run.holds_run():
            raise DigitlabError(f"{run.path} already holds a run; use --resume {run.path} or another --run-dir")
    spec = get_spec(recipe.model)
    train, val, test, ds = prepare_data(recipe, options.data_dir)
    norm = Normalization.named(recipe.normalization)
    model, args = build_model(recipe)
    # A resumed run keeps the threads it started with (unless they were asked for): other threads would sum the
    # same numbers in another order, and the run would not end bit-identical to an uninterrupted one.
    recorded = (config or {}).get("threads")
    plan = dict(recorded) if recorded and options.threads is None else thread_plan_for(model, recipe, options.threads)
    data_info = {"dataset": ds.name, "md5": ds.checksums, "train": len(train), "val": len(val), "test": len(test)}
    if resume is None:
        run.write_config({"recipe": recipe.to_json(), "options": options.__dict__, "data": data_info,
                          "threads": plan, "digitlab_version": __version__})

    state = fit(model, recipe, train, val, device=options.device, run_dir=run, resume=resume is not None,
                target=options.target(), test=test, show_progress=show_progress, on_epoch=on_epoch, plan=plan)
    if spec.family == "numpy":
        args = {**args, **model.get_params()}

    meta = {"recipe": recipe.name, "data": data_info, "outputs": "probs" if recipe.loss == "nll-on-probs" else "logits"}
    classifier = wrap(model, recipe.model, args, test.classes, norm, meta)
    evaluation = evaluate_probs(test.labels, classifier.predict_proba(test.images), test.classes)
    result = TrainResult(run.path, recipe, classifier, state.history, state.best_val_acc, evaluation.accuracy,
                         state.train_seconds, state.time_to_target_s, evaluation, plan)
    classifier.save(run.path, extra={"metrics": {"test_acc": evaluation.accuracy, "best_val_acc": state.best_val_acc,
                                                 "epochs": len(state.history)}})
    if not report:  # benchmarks: the model files are enough
        return result
    from digitlab.training.report import write_report  # matplotlib: 1.5 s of imports that a run without one skips

    notes = [selection_note(recipe), *recipe.notes]
    if recipe.published:
        notes.append(f"Published figure for {recipe.reproduces}: {recipe.published}.")
    summary = {k: v for k, v in result.to_json().items() if k not in ("run_dir", "report")}
    if options.target_acc is not None:
        summary["target_acc"] = options.target_acc
    # A model class may add figures of its own (the hybrid models: the seed's "Hybrid NN Training Convergence").
    report_plots = getattr(model_class(recipe.model), "report_plots", None)
    write_report(run.path, title=f"{recipe.name}: {spec.description}", config=recipe.to_json(),
                 history=state.history, evaluation=evaluation, images=test.images, summary=summary, notes=notes,
                 extra_plots=report_plots(state.history) if report_plots else None)
    return result
