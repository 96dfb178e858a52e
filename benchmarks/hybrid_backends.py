"""Seconds per training epoch of the seed-000 recipe on each quantum backend, in one table.

    python benchmarks/hybrid_backends.py --backends exact,shots,pennylane,pennylane:100 --epochs 2 [--json F]

QuTrunk is importable only in its own virtualenv (``make test-qutrunk`` builds .venv-qutrunk):

    PYTHONPATH=src .venv-qutrunk/bin/python benchmarks/hybrid_backends.py --backends exact,qutrunk

A backend is NAME or NAME:SHOTS (default shots: 100 for shots and qutrunk, analytic for pennylane).
Each backend trains the same network from the same seed on the same 800 images (digits 0 and 1); the
table gives the median training seconds per epoch (evaluation excluded), the evaluation seconds of
the 1,019 validation images, and the validation accuracy after each epoch.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from digitlab.data.batches import DeviceBatches
from digitlab.data.datasets import Digits
from digitlab.inference.normalization import Normalization
from digitlab.models.registry import create_model
from digitlab.training.engine import EVAL_BATCH, evaluate_batches, fit, loss_function
from digitlab.training.recipes import Recipe, get_recipe
from digitlab.training.run import prepare_data


def eval_seconds(model: torch.nn.Module, recipe: Recipe, val: Digits, repeats: int = 3) -> float:
    """Median seconds of one inference pass over the validation images (the engine's evaluation)."""
    batches = DeviceBatches(val, EVAL_BATCH, normalization=Normalization.named(recipe.normalization))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        evaluate_batches(model, batches, loss_function(recipe))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="exact,shots,pennylane")
    parser.add_argument("--recipe", default="seed-000")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared machine a second OpenMP thread slows small ops)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    recipe = get_recipe(args.recipe).override(epochs=args.epochs, batch_size=args.batch_size)
    train, val, _, _ = prepare_data(recipe, None)
    print(f"{recipe.name}: {len(train)} training / {len(val)} validation images, batch {recipe.batch_size}, "
          f"{args.epochs} epochs, torch threads {torch.get_num_threads()}")
    rows = []
    for spec in args.backends.split(","):
        backend, _, shots_text = spec.partition(":")
        shots = int(shots_text) if shots_text else None
        torch.manual_seed(recipe.seed)
        model = create_model(recipe.model, **{**recipe.model_args, "backend": backend, "shots": shots})
        state = fit(model, recipe, train, val, device=torch.device("cpu"))
        rows.append({"backend": backend, "shots": shots,
                     "epoch_seconds": statistics.median(r["seconds"] for r in state.history),
                     "eval_seconds": eval_seconds(model, recipe, val),
                     "val_acc": [r["val_acc"] for r in state.history]})
        r = rows[-1]
        print(f"  {backend}: {r['epoch_seconds']:.3f} s/epoch, eval {r['eval_seconds']:.3f} s, val "
              + " ".join(f"{a:.2%}" for a in r["val_acc"]), flush=True)

    base = rows[0]["epoch_seconds"]
    print(f"\n| backend | shots | s / training epoch | x {rows[0]['backend']} | s / validation pass "
          "| val acc by epoch |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        shots = r["shots"] if r["shots"] else ("100" if r["backend"] in ("shots", "qutrunk") else "analytic")
        print(f"| {r['backend']} | {shots} | {r['epoch_seconds']:.3f} | {r['epoch_seconds'] / base:.1f} | "
              f"{r['eval_seconds']:.3f} | {' / '.join(f'{a:.2%}' for a in r['val_acc'])} |")
    if args.json:
        from pathlib import Path

        from digitlab.utils.fileio import atomic_write_json

        atomic_write_json(Path(args.json), {"args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
