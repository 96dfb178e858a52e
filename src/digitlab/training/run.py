"""A training run from recipe to report: data -> model -> fit -> test once -> files in the run directory.

One path for every model: the fit protocol (training/fit.py) trains a torch module or the NumPy network alike;
the run directory's files are named in training/run_dir.py. config.json and the report record the threads the run
chose (digitlab.utils.threads); a resumed run reuses them, so it ends as the uninterrupted run would.

Under torchrun (``torchrun --nproc-per-node N -m digitlab train ...``) the same function runs in every process:
training/distributed.py joins them, rank 0 alone chooses and writes the run directory (config.json with the world
size, metrics, checkpoints, model files, report) and the others wait for it before they exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
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
    world_size: int = 1  # processes that trained it (torchrun); threads are per process

    def to_json(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "model": self.recipe.model, "recipe": self.recipe.name,
                "epochs_run": len(self.history), "best_val_acc": self.best_val_acc, "test_acc": self.test_acc,
                "train_seconds": round(self.train_seconds, 4), "time_to_target_s": self.time_to_target_s,
                "threads": self.threads, "world_size": self.world_size, "report": str(self.run_dir / "report.md")}

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
    sync_bn: bool = False  # under torchrun on CUDA: BatchNorm statistics over the global batch (SyncBatchNorm)

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


def build_model(recipe: Recipe, num_classes: int | None = None) -> tuple[Any, dict[str, Any]]:
    """(the untrained model, its full constructor arguments): the recipe's model_args, ``num_classes`` for a class
    subset or a dataset of other than 10 classes (where the model takes it), and for the NumPy network the
    recipe's seed (torch models draw theirs from torch's seeded RNG)."""
    spec = get_spec(recipe.model)
    kwargs = dict(recipe.model_args)
    if recipe.classes:
        kwargs.setdefault("num_classes", len(recipe.classes))
    elif num_classes is not None and num_classes != 10 and "num_classes" in inspect.signature(spec.cls).parameters:
        kwargs.setdefault("num_classes", num_classes)
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
    trials from it: an exception it raises ends the run, leaving the run directory resumable). In a torchrun job
    every rank calls it with the same arguments; rank 0 writes, and every rank returns the same figures (the others
    with ``evaluation`` None).

    >>> result = run_training(get_recipe("cnn"), RunOptions(device="cpu"))   # doctest: +SKIP
    >>> result.test_acc                                                      # doctest: +SKIP
    0.9932
    """
    with _session(options, resume) as dist:
        return _run_training(recipe, options, run_dir, resume, show_progress, report, on_epoch, dist)


def _session(options: RunOptions, resume: Path | None) -> contextlib.AbstractContextManager:
    """The torchrun job this process is a rank of (training/distributed.py), or None (and no torch import)."""
    if "WORLD_SIZE" not in os.environ and "RANK" not in os.environ:
        return contextlib.nullcontext(None)
    from digitlab.training.distributed import session

    device = options.device
    if resume is not None:  # the run's own device, where this node can read its config (rank 0's is authoritative)
        with contextlib.suppress(DigitlabError, KeyError, TypeError):
            device = RunDir(resume).read_config()["options"]["device"]
    return session(device)


def _shared(dist: Any, fn: Callable[[], Any]) -> Any:
    """``fn()`` here, or on rank 0 with its result (or error) given to every rank (distributed.shared)."""
    if dist is None:
        return fn()
    from digitlab.training.distributed import shared

    return shared(dist, fn)


def _new_run_dir(recipe: Recipe, run_dir: Path | None) -> str:
    run = RunDir(run_dir) if run_dir is not None else RunDir.new(recipe.name)
    if run.holds_run():
        raise DigitlabError(f"{run.path} already holds a run; use --resume {run.path} or another --run-dir")
    return str(run.path)


def _run_training(recipe: Recipe, options: RunOptions, run_dir: Path | None, resume: Path | None,
                  show_progress: bool, report: bool, on_epoch: Callable[[dict], None] | None,
                  dist: Any) -> TrainResult:
    from digitlab.metrics.evaluation import evaluate_probs
    from digitlab.training.fit import fit

    world = dist.world_size if dist is not None else 1
    config = None
    if resume is not None:
        run = RunDir(resume)
        config = _shared(dist, run.read_config)
        try:
            recipe = Recipe.from_json(config["recipe"])
            options = RunOptions(**config["options"])
        except (ValueError, KeyError, TypeError) as e:
            raise DigitlabError(f"{resume}: not a resumable run directory ({e})") from None
        if config.get("world_size", 1) != world:
            raise DigitlabError(f"{resume} was trained by {config.get('world_size', 1)} process(es), this is {world}: "
                                "resume it with as many (torchrun --nproc-per-node N, or digitlab train "
                                "--nproc-per-node N --resume DIR)")
    else:
        recipe.validate()
        options.validate()
        if recipe.batch_size % world:
            raise DigitlabError(f"batch size {recipe.batch_size} does not split over {world} processes: choose a "
                                f"multiple of {world} (each process takes batch / processes)")
        run = RunDir(_shared(dist, lambda: _new_run_dir(recipe, run_dir)))
    spec = get_spec(recipe.model)
    if dist is not None and spec.family == "numpy":
        raise DigitlabError("the NumPy network trains in one process; torchrun and --nproc-per-node are for "
                            "torch models")
    if dist is not None and dist.local_rank != 0:
        dist.barrier()  # one process per node fills the data cache; the others then read it
    train, val, test, ds = prepare_data(recipe, options.data_dir)
    if dist is not None and dist.local_rank == 0:
        dist.barrier()
    norm = Normalization.named(recipe.normalization)
    model, args = build_model(recipe, len(test.classes))
    # A resumed run keeps the threads it started with (unless they were asked for): other threads would sum the
    # same numbers in another order, and the run would not end bit-identical to an uninterrupted one.
    recorded = (config or {}).get("threads")
    per_rank = dataclasses.replace(recipe, batch_size=recipe.batch_size // world)  # the MACs of one rank's step
    plan = dict(recorded) if recorded and options.threads is None else thread_plan_for(model, per_rank,
                                                                                       options.threads)
    if dist is not None:
        plan = dist.broadcast_object(plan)  # rank 0's, the one config.json records
    data_info = {"dataset": ds.name, "md5": ds.checksums, "train": len(train), "val": len(val), "test": len(test)}
    if resume is None and (dist is None or dist.is_main):
        run.write_config({"recipe": recipe.to_json(), "options": options.__dict__, "data": data_info,
                          "threads": plan, "world_size": world, "digitlab_version": __version__})

    state = fit(model, recipe, train, val, device=options.device, run_dir=run, resume=resume is not None,
                target=options.target(), test=test, show_progress=show_progress, on_epoch=on_epoch, plan=plan,
                dist=dist, sync_bn=options.sync_bn)
    if spec.family == "numpy":
        args = {**args, **model.get_params()}

    meta = {"recipe": recipe.name, "data": data_info, "outputs": "probs" if recipe.loss == "nll-on-probs" else "logits"}
    classifier = wrap(model, recipe.model, args, test.classes, norm, meta)
    rank_weights = None
    if dist is not None:
        from digitlab.training.distributed import weights_sha256

        rank_weights = dist.gather_objects(weights_sha256(model))
        if not dist.is_main:  # rank 0 tests and writes; the others wait for its test accuracy
            return TrainResult(run.path, recipe, classifier, state.history, state.best_val_acc,
                               dist.broadcast_object(None), state.train_seconds, state.time_to_target_s, None, plan,
                               world)
    evaluation = evaluate_probs(test.labels, classifier.predict_proba(test.images), test.classes)
    result = TrainResult(run.path, recipe, classifier, state.history, state.best_val_acc, evaluation.accuracy,
                         state.train_seconds, state.time_to_target_s, evaluation, plan, world)
    _write_outputs(result, run, spec, state, test, options, report, rank_weights)
    if dist is not None:
        dist.broadcast_object(result.test_acc)  # the run directory is complete: the other ranks may exit
    return result


def _write_outputs(result: TrainResult, run: RunDir, spec: Any, state: Any, test: Digits, options: RunOptions,
                   report: bool, rank_weights: list[str] | None) -> None:
    """The model files, and unless ``report`` is False (benchmarks) the report."""
    recipe, evaluation = result.recipe, result.evaluation
    result.model.save(run.path, extra={"metrics": {"test_acc": evaluation.accuracy,
                                                   "best_val_acc": state.best_val_acc, "epochs": len(state.history)}})
    if not report:  # benchmarks: the model files are enough
        return
    from digitlab.training.report import write_report  # matplotlib: 1.5 s of imports that a run without one skips

    notes = [selection_note(recipe), *recipe.notes]
    if recipe.published:
        notes.append(f"Published figure for {recipe.reproduces}: {recipe.published}.")
    summary = {k: v for k, v in result.to_json().items() if k not in ("run_dir", "report")}
    if options.target_acc is not None:
        summary["target_acc"] = options.target_acc
    if rank_weights is not None:
        summary["rank_weights_sha256"] = rank_weights
        notes.append(f"Trained data-parallel by {result.world_size} processes (DDP): batch {recipe.batch_size} in "
                     f"all, {recipe.batch_size // result.world_size} per process; the ranks ended with "
                     + ("identical weights." if len(set(rank_weights)) == 1 else
                        "DIFFERENT weights (a bug: please report it); these are rank 0's."))
    # A model class may add figures of its own (the hybrid models: the seed's "Hybrid NN Training Convergence").
    report_plots = getattr(model_class(recipe.model), "report_plots", None)
    write_report(run.path, title=f"{recipe.name}: {spec.description}", config=recipe.to_json(),
                 history=state.history, evaluation=evaluation, images=test.images, summary=summary, notes=notes,
                 extra_plots=report_plots(state.history) if report_plots else None)
