"""`digitlab bench ...`: speed figures measured against a named baseline in the same run (ratios).

The commands here are thin: each parses its flags, calls its measurement in digitlab.bench and prints the
result (or one JSON document with --json). `train`, `infer` and `predict` live in this file; `serve`, `load` and
`startup` in cli/bench_{serve,load,startup}.py, imported only when they run.
"""

from __future__ import annotations

from pathlib import Path

import typer

from digitlab.cli.lazy import LazyGroup
from digitlab.cli.options import DataDir, Json, progress_printer
from digitlab.utils.console import err, out, print_json

# Each benchmark of another module decorates its command on `app` below when imported (cli/lazy.py).
BENCHMARKS: dict[str, tuple[str, str]] = {
    "train": (__name__, "Time to reach the target test accuracy: digitlab's recipe vs the fastest published recipe."),
    "infer": (__name__, "Images/s at batch 1 and --batch, single-image latency p50/p99: PyTorch eager vs "
              "TorchScript, ONNX Runtime fp32/int8 and the C export, same model and run; plus the distance from "
              "the CPU's fp32 matmul roof."),
    "predict": (__name__, "End-to-end latency of one 1-megapixel JPEG photo of one digit: decode -> preprocess -> "
                "model."),
    "serve": ("digitlab.cli.bench_serve", "Single-image POST /v1/recognize at each concurrency: req/s, p50/p99 "
              "latency, errors, server memory."),
    "load": ("digitlab.cli.bench_load", "Training and predict beside 0, 1 and 2 busy processes: the thread policy "
             "against the settings before it."),
    "startup": ("digitlab.cli.bench_startup", "Wall time of whole processes: python -c pass, digitlab "
                "--help/--version, predict one photo."),
}


class BenchGroup(LazyGroup):
    table = BENCHMARKS

    @staticmethod
    def registry() -> typer.Typer:
        return app


app = typer.Typer(cls=BenchGroup, help="Benchmarks: each figure is a ratio against a baseline measured in the same "
                  "run.", no_args_is_help=True, add_completion=False, rich_markup_mode=None)


def _dir(data_dir: Path | None) -> str | None:
    return str(data_dir) if data_dir else None


@app.command("train")
def bench_train(
    seeds: int = typer.Option(5, "--seeds", min=1, help="Runs of each, alternating baseline and digitlab."),
    recipe: str = typer.Option("cnn", "--recipe", help="The digitlab recipe to time."),
    target: float = typer.Option(0.99, "--target", help="Test accuracy the mean must reach."),
    data_dir: Path = DataDir,
    json: bool = Json,
) -> None:
    """Time to reach the target test accuracy: digitlab's recipe vs the fastest published recipe."""
    from digitlab.bench.train import compare_train

    doc = compare_train(recipe, seeds, target, _dir(data_dir), progress_printer(json))
    if json:
        print_json(doc)
        return
    base, ours = doc["baseline"], doc["digitlab"]
    out.print(f"baseline: {base['mean_seconds']:.2f} s, mean test acc {base['mean_acc']:.2%}")
    out.print(f"digitlab {recipe}: {ours['mean_seconds']:.2f} s, mean test acc {ours['mean_acc']:.2%}")
    out.print(f"speed-up {doc['speedup']:.2f}x; mean accuracy {'meets' if doc['target_met'] else 'misses'} "
              f"the {target:.1%} target")


@app.command("infer")
def bench_infer(
    model: str = typer.Option("default", "--model", "-m", help="A run directory, model directory or shipped name "
                              "(`default`: the shipped recognizer)."),
    batch: int = typer.Option(1024, "--batch", min=2, help="The large batch size."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Interleaved rounds, medians reported."),
    threads: int = typer.Option(None, "--threads", min=1, help="Intra-op threads for torch and ONNX Runtime "
                                "(default: theirs, one per core)."),
    data_dir: Path = DataDir,
    json: bool = Json,
) -> None:
    """Images/s at batch 1 and --batch, single-image latency p50/p99: PyTorch eager vs TorchScript, ONNX Runtime
    fp32/int8 and the C export, same model and run; plus the distance from the CPU's fp32 matmul roof."""
    from digitlab.bench.infer import benchmark
    from digitlab.bench.machine import machine
    from digitlab.export import torch_model
    from digitlab.export.check import evaluation_data
    from digitlab.export.quantize import calibration_subset
    from digitlab.inference.classifier import load_classifier

    classifier = torch_model(load_classifier(model))
    test, train = evaluation_data(classifier, None, _dir(data_dir))
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


@app.command("predict")
def bench_predict(
    runs: int = typer.Option(200, "--runs", min=10, help="Timed reads, each beside one model-only call."),
    model: str = typer.Option("default", "--model", help="A run directory, model directory or shipped name "
                              "(`default`: the shipped recognizer)."),
    runtime: str = typer.Option("torch", "--runtime", help="torch, or onnx: the same weights in ONNX Runtime "
                                "(as `digitlab serve` runs them), checked against torch first."),
    json: bool = Json,
) -> None:
    """End-to-end latency of one 1-megapixel JPEG photo of one digit: decode -> preprocess -> model."""
    from digitlab.bench.predict import predict_latency

    doc = predict_latency(model, runtime, runs)
    if json:
        print_json(doc)
        return
    e, m = doc["end_to_end"], doc["model_only"]
    verdict = "met" if doc["goal_met"] else "missed"
    out.print(f"end to end: p50 {e['p50_ms']:.2f} ms, p99 {e['p99_ms']:.2f} ms; model alone: p50 "
              f"{m['p50_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms (goal p99 <= {doc['goal_p99_ms']:g} ms: {verdict})")
