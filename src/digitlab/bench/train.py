"""Time to the target test accuracy: a digitlab recipe against the fastest published recipe (`digitlab bench train`).

The baseline (digitlab.bench.baseline_fast_mnist) and the recipe alternate seed by seed in one process, so
machine noise hits both alike; the figure is the ratio of their mean training times.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from digitlab.bench.machine import machine


def compare_train(recipe: str = "cnn", seeds: int = 5, target: float = 0.99, data_dir: str | None = None,
                  progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Train the baseline and ``recipe`` once per seed on the CPU; mean/min accuracy, mean seconds, speed-up.

    >>> doc = compare_train("cnn", seeds=1)  # doctest: +SKIP
    >>> doc["speedup"], doc["target_met"]  # doctest: +SKIP
    (4.8, True)
    """
    from digitlab.bench import baseline_fast_mnist as baseline
    from digitlab.training.recipes import get_recipe
    from digitlab.training.run import RunOptions, run_training

    data = baseline.load_mnist_tensors(data_dir=data_dir)
    chosen = get_recipe(recipe)
    rows = []
    with tempfile.TemporaryDirectory(prefix="digitlab-bench-") as tmp:
        for seed in range(seeds):
            base = baseline.run_baseline(*data, seed=seed)
            ours = run_training(chosen.override(seed=seed), RunOptions(device="cpu", data_dir=data_dir),
                                Path(tmp) / f"seed{seed}", report=False)
            rows.append({"seed": seed, "baseline_s": base["seconds"], "baseline_acc": base["test_acc"],
                         "digitlab_s": ours.train_seconds, "digitlab_acc": ours.test_acc})
            progress(f"seed {seed}: baseline {base['seconds']:.2f} s {base['test_acc']:.2%} | "
                     f"digitlab {ours.train_seconds:.2f} s {ours.test_acc:.2%}")
    mean = {k: statistics.mean(r[k] for r in rows) for k in ("baseline_s", "baseline_acc", "digitlab_s",
                                                              "digitlab_acc")}
    return {"benchmark": "train", "recipe": recipe, "seeds": seeds, "target": target, "runs": rows,
            "baseline": {"mean_seconds": mean["baseline_s"], "mean_acc": mean["baseline_acc"],
                         "min_acc": min(r["baseline_acc"] for r in rows)},
            "digitlab": {"mean_seconds": mean["digitlab_s"], "mean_acc": mean["digitlab_acc"],
                         "min_acc": min(r["digitlab_acc"] for r in rows)},
            "speedup": mean["baseline_s"] / mean["digitlab_s"],
            "target_met": mean["digitlab_acc"] >= target, "machine": machine()}
