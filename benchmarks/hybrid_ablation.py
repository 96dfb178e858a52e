"""The honest ablation: each hybrid network against its classical twin (the quantum layer replaced by a
classical layer of the same input and output size), same recipe, same seeds.

    python benchmarks/hybrid_ablation.py --pairs seed-000,hybrid-qnn --seeds 0,1,2
    python benchmarks/hybrid_ablation.py --pairs hybrid-qnn10 --seeds 0 [--epochs 5] [--json F]

Pairs (recipe: quantum model vs classical model):
  seed-000      hybrid-qnn (probs, NLLLoss as the seed)  vs  hybrid-qnn-classical  (recipe seed-000-classical)
  hybrid-qnn    hybrid-qnn (log-likelihood)              vs  hybrid-qnn-classical
  hybrid-qnn10  hybrid-qnn10 (8 qubits, 2 layers)        vs  hybrid-qnn10-classical
                and a third arm, hybrid-qnn10 with layers=0: the same circuit without its entangling layers,
                i.e. a product state whose <Z_i> = -sin(x_i) is a plain sine activation, classically exact.
Prints a markdown table: validation accuracy after epoch 1 and at best, test accuracy (of the best
validation epoch), seconds per training epoch; mean and range over the seeds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from digitlab.training.recipes import get_recipe
from digitlab.training.run import RunOptions, run_training

PAIRS = {  # pair -> arms: (model, recipe, extra model arguments)
    "seed-000": (("hybrid-qnn", "seed-000", {}), ("hybrid-qnn-classical", "seed-000-classical", {})),
    "hybrid-qnn": (("hybrid-qnn", "hybrid-qnn", {}), ("hybrid-qnn-classical", "hybrid-qnn", {})),
    "hybrid-qnn10": (("hybrid-qnn10", "hybrid-qnn10", {}), ("hybrid-qnn10-classical", "hybrid-qnn10", {}),
                     ("hybrid-qnn10", "hybrid-qnn10", {"layers": 0})),
}


def run(model: str, recipe_name: str, extra: dict, seed: int, epochs: int | None) -> dict:
    recipe = get_recipe(recipe_name)
    if recipe.model != model:
        recipe = recipe.override(model=model, model_args={})
    recipe = recipe.override(seed=seed, epochs=epochs, model_args={**recipe.model_args, **extra})
    with tempfile.TemporaryDirectory() as tmp:
        result = run_training(recipe, RunOptions(device="cpu"), Path(tmp) / "run", report=False)
    return {"val_acc_epoch1": result.history[0]["val_acc"], "best_val_acc": result.best_val_acc,
            "test_acc": result.test_acc, "epoch_seconds": statistics.median(r["seconds"] for r in result.history),
            "val_acc": [r["val_acc"] for r in result.history]}


def summarise(values: list[float], percent: bool = True) -> str:
    fmt = (lambda v: f"{v:.2%}") if percent else (lambda v: f"{v:.2f}")
    mean = fmt(statistics.mean(values))
    return mean if len(values) == 1 else f"{mean} ({fmt(min(values))}-{fmt(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default=None, help="only these arm labels, comma-separated (default: all)")
    parser.add_argument("--pairs", default="seed-000,hybrid-qnn", help=f"of {', '.join(PAIRS)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]

    results = {}
    for pair in args.pairs.split(","):
        for model, recipe, extra in PAIRS[pair]:
            label = model + "".join(f" {k}={v}" for k, v in extra.items())
            if args.arms and label not in args.arms.split(","):
                continue
            runs = []
            for seed in seeds:
                runs.append(run(model, recipe, extra, seed, args.epochs))
                print(f"{pair} {label} seed {seed}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in runs[-1].items() if k != "val_acc"), flush=True)
            results[f"{pair}/{label}"] = runs

    print(f"\n| recipe | model | val acc after epoch 1 | best val acc | test acc | s / epoch |  (seeds {args.seeds})")
    print("|---|---|---|---|---|---|")
    for key, runs in results.items():
        pair, model = key.split("/")
        cells = [summarise([r[k] for r in runs]) for k in ("val_acc_epoch1", "best_val_acc", "test_acc")]
        print(f"| {pair} | {model} | " + " | ".join(cells)
              + f" | {summarise([r['epoch_seconds'] for r in runs], percent=False)} |")
    if args.json:
        from digitlab.utils.fileio import atomic_write_json

        atomic_write_json(Path(args.json), {"args": vars(args), "results": results})


if __name__ == "__main__":
    main()
