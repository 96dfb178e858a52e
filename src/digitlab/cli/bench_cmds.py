"""`digitlab bench ...`: speed figures measured against a named baseline in the same run (ratios)."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import typer

from digitlab.cli.lazy import LazyGroup
from digitlab.cli.options import DataDir, Json
from digitlab.errors import DigitlabError
from digitlab.utils.console import err, out, print_json

# Each benchmark of another module decorates its command on `app` below when imported (cli/lazy.py).
BENCHMARKS: dict[str, tuple[str, str]] = {
    "train": (__name__, "Time to reach the target test accuracy: digitlab's recipe vs the fastest published recipe."),
    "infer": (__name__, "Images/s at batch 1 and --batch, single-image latency p50/p99: PyTorch eager vs "
              "TorchScript, ONNX Runtime fp32/int8 and the C export, same model and run; plus the distance from "
              "the CPU's fp32 matmul roof."),
    "predict": (__name__, "End-to-end latency of one 1-megapixel JPEG photo of one digit: decode -> preprocess -> "
                "model."),
    "serve": ("digitlab.bench.serve", "Single-image POST /v1/recognize at each concurrency: req/s, p50/p99 "
              "latency, errors, server memory."),
    "load": ("digitlab.bench.load", "Training and predict beside 0, 1 and 2 busy processes: the thread policy "
             "against the settings before it."),
    "startup": ("digitlab.bench.startup", "Wall time of whole processes: python -c pass, digitlab "
                "--help/--version, predict one photo."),
}


class BenchGroup(LazyGroup):
    table = BENCHMARKS

    @staticmethod
    def registry() -> typer.Typer:
        return app


app = typer.Typer(cls=BenchGroup, help="Benchmarks: each figure is a ratio against a baseline measured in the same "
                  "run.", no_args_is_help=True, add_completion=False, rich_markup_mode=None)


def machine() -> dict:
    """Where a figure was measured (without importing torch: a benchmark of start-up must not pay for it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = None
    doc = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "torch": torch_version, "python": sys.version.split()[0],
           "date": time.strftime("%Y-%m-%d %H:%M")}
    if "torch" in sys.modules:
        doc["threads"] = sys.modules["torch"].get_num_threads()
    return doc


@app.command("train")
def bench_train(
    seeds: int = typer.Option(5, "--seeds", min=1, help="Runs of each (alternating baseline and digitlab)."),
    recipe: str = typer.Option("cnn", "--recipe", help="The digitlab recipe to time."),
    target: float = typer.Option(0.99, "--target", help="Test accuracy the mean must reach."),
    data_dir: Path = DataDir,
    json: bool = Json,
) -> None:
    """Time to reach the target test accuracy: digitlab's recipe vs the fastest published recipe."""
    from digitlab.bench import baseline_fast_mnist as baseline
    from digitlab.training.recipes import get_recipe
    from digitlab.training.run import RunOptions, run_training

    data = baseline.load_mnist_tensors(data_dir=str(data_dir) if data_dir else None)
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


@app.command("infer")
def bench_infer(
    model: str = typer.Option("default", "--model", "-m", help="A run directory, model directory or shipped name."),
    batch: int = typer.Option(1024, "--batch", min=2, help="The large batch size."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Interleaved rounds (medians are reported)."),
    threads: int = typer.Option(None, "--threads", min=1, help="Intra-op threads for torch and ONNX Runtime "
                                                                 "(default: one per core)."),
    data_dir: Path = DataDir,
    json: bool = Json,
) -> None:
    """Images/s at batch 1 and --batch, single-image latency p50/p99: PyTorch eager vs TorchScript, ONNX Runtime
    fp32/int8 and the C export, same model and run; plus the distance from the CPU's fp32 matmul roof."""
    from digitlab.cli.options import progress_printer
    from digitlab.export import torch_model
    from digitlab.export.check import evaluation_data
    from digitlab.export.quantize import calibration_subset
    from digitlab.bench.runtimes import benchmark
    from digitlab.inference.classifier import load_classifier

    classifier = torch_model(load_classifier(model))
    test, train = evaluation_data(classifier, None, str(data_dir) if data_dir else None)
    doc = benchmark(classifier, test.images, calibration_subset(train.images), big_batch=batch, rounds=rounds,
                    progress=progress_printer(json), threads=threads)
    doc["machine"] = machine()
    if json:
        print_json(doc)
        return
    out.print(f"{doc['model']}: {doc['flops_per_image'] / 1e6:.3f} MFLOP/image, {doc['threads']} torch threads")
    out.print(f"{'runtime':<20}{'batch 1 img/s':>14}{f'batch {batch} img/s':>17}{'x eager':>9}{'p50 ms':>9}"
              f"{'p99 ms':>9}{'agrees':>9}")
    for r in doc["runtimes"]:
        out.print(f"{r['runtime']:<20}{r['batch1_images_per_s']:>14,.0f}{r[f'batch{batch}_images_per_s']:>17,.0f}"
                  f"{r[f'speedup_batch{batch}']:>9.2f}{r['latency_p50_ms']:>9.3f}{r['latency_p99_ms']:>9.3f}"
                  f"{r['agreement_with_eager']:>9.2%}")
    roof = doc["roof"]
    out.print(f"roof: fp32 matmul {roof['matmul_fp32_gflops']:.1f} GFLOP/s = {roof['images_per_s_at_roof']:,.0f} "
              f"images/s for this model; best fp32 ({roof['best_fp32_runtime']}) reaches "
              f"{roof['best_fp32_fraction_of_roof']:.1%} of it, best overall ({roof['best_runtime']}) "
              f"{roof['best_fraction_of_roof']:.1%}")
    load = doc["load_average_1min"]
    out.print(f"1-min load average {load['start']:.1f} -> {load['end']:.1f} on {doc['machine']['processor']}")
    for note in doc["skipped"]:
        err.print(f"[dim]skipped {note}[/dim]")


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1e3 for s in samples)
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "min_ms": ms[0]}


@app.command("predict")
def bench_predict(
    runs: int = typer.Option(200, "--runs", min=10),
    model: str = typer.Option("default", "--model"),
    runtime: str = typer.Option("torch", "--runtime", help="torch, or onnx: the same weights in ONNX Runtime "
                                "(as `digitlab serve` runs them), checked against torch first."),
    json: bool = Json,
) -> None:
    """End-to-end latency of one 1-megapixel JPEG photo of one digit: decode -> preprocess -> model."""
    import io

    from digitlab.data import load_dataset
    from digitlab.inference.classifier import load_classifier
    from digitlab.vision.reader import recognize
    from digitlab.vision.synthetic import photo_digit

    classifier = load_classifier(model)
    if runtime == "onnx":
        from digitlab.inference.onnx_runtime import to_onnx_runtime

        classifier = to_onnx_runtime(classifier, threads=1)
    elif runtime != "torch":
        raise DigitlabError(f"--runtime must be torch or onnx; got {runtime!r}")
    digit = load_dataset("mnist").test.images[0]
    photo = photo_digit(digit, np.random.default_rng(0)).convert("RGB").resize((1000, 1000))
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=90)
    jpeg = buf.getvalue()
    crop = recognize(jpeg, classifier, multi=False).crops[0][None]
    end_to_end, model_only = [], []
    for _ in range(runs):  # interleaved so that machine noise hits both alike
        t = time.perf_counter()
        recognize(jpeg, classifier, multi=False)
        end_to_end.append(time.perf_counter() - t)
        t = time.perf_counter()
        classifier.predict_proba(crop)
        model_only.append(time.perf_counter() - t)
    doc = {"benchmark": "predict", "model": model, "runtime": runtime, "image": "1000x1000 JPEG q90, one digit",
           "bytes": len(jpeg), "runs": runs, "end_to_end": percentiles(end_to_end),
           "model_only": percentiles(model_only), "goal_p99_ms": 5.0, "machine": machine()}
    doc["goal_met"] = doc["end_to_end"]["p99_ms"] <= 5.0
    if json:
        print_json(doc)
        return
    e, m = doc["end_to_end"], doc["model_only"]
    verdict = "met" if doc["goal_met"] else "missed"
    out.print(f"end to end: p50 {e['p50_ms']:.2f} ms, p99 {e['p99_ms']:.2f} ms; model alone: p50 "
              f"{m['p50_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms (goal p99 <= 5 ms: {verdict})")
