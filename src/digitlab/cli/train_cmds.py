"""`digitlab train`: one run of a recipe (or the resumption of one), in one process or data-parallel.

``--nproc-per-node N`` re-launches the same command in N processes through torch.distributed.run (torchrun's own
code, ``--standalone``); ``torchrun ... -m digitlab train ...`` does the same by hand, across nodes too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from digitlab.cli.options import DataDir, Json, Threads
from digitlab.errors import DigitlabError
from digitlab.utils.console import out, print_json


def parse_classes(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        classes = tuple(sorted({int(c) for c in value.split(",") if c.strip()}))
    except ValueError:
        raise DigitlabError(f"--classes takes comma-separated integers like 0,1; got {value!r}") from None
    if not classes:
        raise DigitlabError("--classes is empty")
    return classes


def parse_model_args(pairs: list[str] | None) -> dict:
    """--arg KEY=VALUE pairs -> model constructor keyword arguments (values parsed as JSON when they can be)."""
    import json

    args = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise DigitlabError(f"--arg takes KEY=VALUE, got {pair!r}")
        try:
            args[key.strip()] = json.loads(value)
        except ValueError:
            args[key.strip()] = value
    return args


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        model: str = typer.Argument(None, help="Model name (see `digitlab models`); default: cnn."),
        recipe: str = typer.Option(None, "--recipe", "-r",
                                   help="Named recipe (see `digitlab recipes`) or a recipe .json file (`digitlab "
                                        "sweep` writes one); default: the model's own recipe."),
        epochs: int = typer.Option(None, "--epochs", min=1, help="Epochs to train (default: the recipe's)."),
        batch_size: int = typer.Option(None, "--batch-size", min=1,
                                       help="Images per optimiser step (default: the recipe's)."),
        lr: float = typer.Option(None, "--lr", min=0.0,
                                 help="Learning rate; with a onecycle schedule, its peak (default: the recipe's)."),
        optimizer: str = typer.Option(None, "--optimizer", help="sgd, adam or adamw (default: the recipe's)."),
        seed: int = typer.Option(None, "--seed", help="Seed of the weights, the shuffle and the augmentation "
                                                      "(default: the recipe's, 0 for most)."),
        normalization: str = typer.Option(None, "--normalization",
                                          help="Input normalisation: none, mnist or symmetric (default: the "
                                               "recipe's)."),
        label_smoothing: float = typer.Option(None, "--label-smoothing", min=0.0, max=0.99,
                                              help="Label smoothing of the cross-entropy (default: the recipe's)."),
        compile: bool = typer.Option(None, "--compile/--no-compile",
                                     help="torch.compile the model (default: the recipe's; seed-003 compiles)."),
        limit: int = typer.Option(None, "--limit", min=1, help="Use only the first N training images (default: all)."),
        classes: str = typer.Option(None, "--classes",
                                    help="Keep only these classes, e.g. 0,1 (default: the recipe's; all ten for "
                                         "most)."),
        per_class: int = typer.Option(None, "--per-class", min=1,
                                      help="First N training images of each class (default: the recipe's; all)."),
        arg: list[str] = typer.Option(None, "--arg",
                                      help="Model argument KEY=VALUE (repeatable), e.g. width=24 (default: the "
                                           "recipe's model_args)."),
        quantum_backend: str = typer.Option(None, "--quantum-backend",
                                            help="Hybrid models: exact, shots, pennylane or qutrunk (default: exact)."),
        shots: int = typer.Option(None, "--shots", min=1,
                                  help="Hybrid models with a shots backend: measurement shots (default: 100)."),
        device: str = typer.Option("auto", "--device", help="auto (a GPU when torch sees one), cpu or cuda."),
        target_acc: float = typer.Option(None, "--target-acc",
                                         help="Stop once this accuracy (a fraction, e.g. 0.99) is reached "
                                              "(default: run every epoch)."),
        target_split: str = typer.Option("val", "--target-split",
                                         help="Split --target-acc is checked on: val, or test (speed benchmarks "
                                              "only)."),
        run_dir: Path = typer.Option(None, "--run-dir",
                                     help="Where to write the run (default: runs/DATE-TIME-RECIPE)."),
        resume: Path = typer.Option(None, "--resume",
                                    help="Continue the interrupted run in this directory, with its own recipe and "
                                         "options (default: start a new run)."),
        dataset: str = typer.Option(None, "--dataset", "-d",
                                    help="mnist, fashion-mnist, mnist-pieces or idx:DIR (default: the recipe's, "
                                         "mnist for most)."),
        data_dir: Path = DataDir,
        threads: str = Threads,
        report: bool = typer.Option(True, "--report/--no-report",
                                    help="Write report.md and its figures (--no-report: model files only)."),
        nproc_per_node: int = typer.Option(None, "--nproc-per-node", min=1,
                                           help="Train data-parallel (DDP) in N processes on this machine, launched "
                                                "through torch.distributed.run; the batch size stays the global "
                                                "batch, each process takes batch / N (default: one process)."),
        sync_bn: bool = typer.Option(False, "--sync-bn",
                                     help="With several processes on CUDA: BatchNorm statistics over the global "
                                          "batch (SyncBatchNorm)."),
        json: bool = Json,
    ) -> None:
        """Train a model by its default recipe or a named one; write a run directory with a report."""
        from digitlab.training.recipes import choose_recipe
        from digitlab.training.run import RunOptions, run_training
        from digitlab.utils.threads import parse_threads, requested_threads, use_threads

        requested = parse_threads(threads)
        requested_threads(requested)  # a bad $DIGITLAB_THREADS fails now, not after the data has loaded
        launching = nproc_per_node is not None and nproc_per_node > 1
        if launching and ("RANK" in os.environ or "WORLD_SIZE" in os.environ):
            raise DigitlabError("--nproc-per-node inside a torchrun job: give it to torchrun, or leave torchrun out")
        rank = int(os.environ.get("RANK", "0") or 0)
        if resume is not None:
            if launching:
                _launch(nproc_per_node)
                return
            with use_threads(requested):  # --threads on a resume: this session's choice, over the run's own
                result = _quiet_on_other_ranks(lambda: run_training(
                    None, resume=resume, show_progress=not json, report=report), rank)  # type: ignore[arg-type]
        else:
            base = choose_recipe(model, recipe)
            extra = parse_model_args(arg)
            if quantum_backend is not None:
                extra["backend"] = quantum_backend
            if shots is not None:
                extra["shots"] = shots
            chosen = base.override(model_args={**base.model_args, **extra} if extra else None,
                                   epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, seed=seed,
                                   normalization=normalization, label_smoothing=label_smoothing, compile=compile,
                                   limit=limit, classes=parse_classes(classes), per_class=per_class,
                                   dataset=dataset)
            options = RunOptions(device=device, target_acc=target_acc, target_split=target_split,
                                 data_dir=str(data_dir) if data_dir else None, threads=requested, sync_bn=sync_bn)
            if launching:
                options.validate()
                if chosen.batch_size % nproc_per_node:
                    raise DigitlabError(f"batch size {chosen.batch_size} does not split over {nproc_per_node} "
                                        f"processes: choose a multiple of {nproc_per_node} (each takes batch / N)")
                _launch(nproc_per_node)
                return
            result = _quiet_on_other_ranks(lambda: run_training(chosen, options, run_dir, show_progress=not json,
                                                                report=report), rank)
        if rank != 0:  # rank 0 speaks for a torchrun job
            return
        doc = result.to_json()
        if json:
            print_json(doc)
            return
        ttt = f", reached the target in {doc['time_to_target_s']:.2f} s" if doc["time_to_target_s"] else ""
        out.print(f"[bold]{doc['recipe']}[/bold] ({doc['model']}): test accuracy [bold]{doc['test_acc']:.2%}"
                  f"[/bold], best val {doc['best_val_acc']:.2%}, {doc['epochs_run']} epochs in "
                  f"{doc['train_seconds']:.1f} s{ttt}")
        if report:
            out.print(f"report: {doc['report']}")


def _launch(nproc_per_node: int) -> None:
    """This very command, minus --nproc-per-node, in that many processes (torch.distributed.run)."""
    from digitlab.training.distributed import cli_argv, launch, without_option

    launch(nproc_per_node, without_option(cli_argv(), "--nproc-per-node"))


def _quiet_on_other_ranks(train: Callable[[], Any], rank: int) -> Any:
    """``train()``; an error rank 0 met and shared is printed by rank 0 alone (the others exit 2 quietly)."""
    try:
        return train()
    except DigitlabError as e:
        if rank != 0 and type(e).__name__ == "SharedError":
            raise typer.Exit(2) from None
        raise
