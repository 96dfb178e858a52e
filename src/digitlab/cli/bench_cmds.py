"""`digitlab bench ...`: speed figures measured against a named baseline in the same run (ratios)."""

from __future__ import annotations

import importlib.util
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import typer

from digitlab.cli.options import DataDir, Json
from digitlab.console import err, out, print_json
from digitlab.errors import DigitlabError

app = typer.Typer(help="Benchmarks: each figure is a ratio against a baseline measured in the same run.",
                  no_args_is_help=True)
BENCHMARKS_DIR = Path(__file__).resolve().parents[3] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """Import benchmarks/NAME.py from the source checkout (baselines live there, not in the package)."""
    path = BENCHMARKS_DIR / f"{name}.py"
    if not path.is_file():
        raise DigitlabError(f"{path} not found: `digitlab bench` runs from a source checkout of digitlab")
    spec = importlib.util.spec_from_file_location(f"digitlab_benchmarks.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def machine() -> dict:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "python": sys.version.split()[0],
            "date": time.strftime("%Y-%m-%d")}


@app.command("train")
def bench_train(
    seeds: int = typer.Option(5, "--seeds", min=1, help="Runs of each (alternating baseline and digitlab)."),
    recipe: str = typer.Option("cnn", "--recipe", help="The digitlab recipe to time."),
    target: float = typer.Option(0.99, "--target", help="Test accuracy the mean must reach."),
    data_dir: Path = DataDir,
    json: bool = Json,
) -> None:
    """Time to reach the target test accuracy: digitlab's recipe vs the fastest published recipe."""
    from digitlab.recipes import get_recipe
    from digitlab.runner import RunOptions, run_training

    baseline = load_benchmark("baseline_fast_mnist")
    data = baseline.load_mnist_tensors()
    chosen = get_recipe(recipe)
    rows = []
    with tempfile.TemporaryDirectory(prefix="digitlab-bench-") as tmp:
        for seed in range(seeds):
            base = baseline.run_baseline(*data, seed=seed)
            ours = run_training(chosen.override(seed=seed), RunOptions(device="cpu",
                                data_dir=str(data_dir) if data_dir else None),
                                Path(tmp) / f"seed{seed}", report=False)
            rows.append({"seed": seed, "baseline_s": base["seconds"], "baseline_acc": base["test_acc"],
                         "digitlab_s": ours.train_seconds, "digitlab_acc": ours.test_acc})
            if not json:
                err.print(f"seed {seed}: baseline {base['seconds']:.2f} s {base['test_acc']:.2%} | "
                          f"digitlab {ours.train_seconds:.2f} s {ours.test_acc:.2%}")
    mean = {k: statistics.mean(r[k] for r in rows) for k in ("baseline_s", "baseline_acc", "digitlab_s",
                                                              "digitlab_acc")}
    doc = {"benchmark": "train", "recipe": recipe, "seeds": seeds, "target": target, "runs": rows,
           "baseline": {"mean_seconds": mean["baseline_s"], "mean_acc": mean["baseline_acc"],
                        "min_acc": min(r["baseline_acc"] for r in rows)},
           "digitlab": {"mean_seconds": mean["digitlab_s"], "mean_acc": mean["digitlab_acc"],
                        "min_acc": min(r["digitlab_acc"] for r in rows)},
           "speedup": mean["baseline_s"] / mean["digitlab_s"],
           "target_met": mean["digitlab_acc"] >= target, "machine": machine()}
    if json:
        print_json(doc)
        return
    out.print(f"baseline: {mean['baseline_s']:.2f} s, mean test acc {mean['baseline_acc']:.2%}")
    out.print(f"digitlab {recipe}: {mean['digitlab_s']:.2f} s, mean test acc {mean['digitlab_acc']:.2%}")
    out.print(f"speed-up {doc['speedup']:.2f}x; mean accuracy {'meets' if doc['target_met'] else 'misses'} "
              f"the {target:.1%} target")
