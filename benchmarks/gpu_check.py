"""`make gpu-check`: digitlab's CUDA paths in one run of a few minutes, its figures as one JSON document.

Steps, each reported as PASS/FAIL (the script exits 1 if any failed, 2 if there is no CUDA device):

1. speed: the `cnn` recipe through the engine (bf16 autocast) against the anchor recipe
   (digitlab.bench.baseline_fast_mnist, fp32 as published) in this process, alternating seeds after a
   warm-up of each; absolute seconds and the ratio; the mean test accuracy must reach 99%.
2. recognizer: one epoch of the `recognizer` recipe (bf16 autocast, on-device augmentation, EMA).
3. onnx: the CUDA-trained recognizer exported to ONNX and checked with ONNX Runtime on the test set
   (as `digitlab export --check`), plus how far ONNX Runtime is from the model's own CUDA logits.
4. serve: the shipped model served on CUDA (the in-process app, torch runtime) reads docs/number-2026.jpg.

    PYTHONPATH=src python benchmarks/gpu_check.py --out build/gpu-check.json
    PYTHONPATH=src python benchmarks/gpu_check.py --device cpu --quick   # a dry run in seconds, no GPU needed
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parent.parent
PHOTO = CHECKOUT / "docs" / "number-2026.jpg"
TARGET = 0.99
TIME_LIMIT_S = 300  # the whole check on a CUDA machine, as issue 11 asks
RECOGNIZER_FLOOR = 0.97  # one epoch that learnt at all clears this; bf16 gone wrong does not
QUICK_SIZES = {"train": 1200, "val": 200, "test": 300}  # the dry run's small MNIST subset


class Steps:
    """Runs each step, prints one PASS/FAIL line and keeps its figures; a failing step does not stop the rest."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}

    def run(self, name: str, step: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        start = time.perf_counter()
        try:
            figures = step()
            ok, problem = figures.pop("ok", True), figures.pop("problem", None)
        except Exception as e:  # noqa: BLE001 - report it and go on to the next step
            figures, ok, problem = {"traceback": traceback.format_exc()}, False, f"{type(e).__name__}: {e}"
        figures.update(ok=ok, seconds=round(time.perf_counter() - start, 3))
        if problem:
            figures["problem"] = problem
        self.results[name] = figures
        print(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {problem}" if problem else ""), flush=True)
        return figures if ok else None

    @property
    def ok(self) -> bool:
        return all(r["ok"] for r in self.results.values())


def machine(device: Any) -> dict[str, Any]:
    import torch

    info = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "device": str(device), "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    multiprocessors=props.multi_processor_count, bf16_supported=torch.cuda.is_bf16_supported(),
                    cudnn=torch.backends.cudnn.version(), cudnn_tf32=torch.backends.cudnn.allow_tf32,
                    matmul_tf32=torch.backends.cuda.matmul.allow_tf32)
    else:
        info.update(threads=torch.get_num_threads())
    return info


def small_mnist(data_dir: str | None, directory: Path) -> str:
    """A small MNIST subset as an IDX dataset (the dry run's data); returns its spec, ``idx:DIR``."""
    from digitlab.data import load_dataset
    from digitlab.data.idx import write_idx

    mnist = load_dataset("mnist", data_dir)
    directory.mkdir(parents=True)
    for split, digits, stem in (("train", mnist.train_full, "train"), ("test", mnist.test, "t10k")):
        n = QUICK_SIZES[split]
        write_idx(directory / f"{stem}-images-idx3-ubyte", digits.images[:n])
        write_idx(directory / f"{stem}-labels-idx1-ubyte", digits.labels[:n].astype("uint8"))
    return f"idx:{directory}"


def recipe_for(name: str, dataset: str | None) -> Any:
    from digitlab.training.recipes import get_recipe

    recipe = get_recipe(name)
    return recipe.override(dataset=dataset, val_size=QUICK_SIZES["val"]) if dataset else recipe


def speed(device: Any, seeds: int, dataset: str | None, data_dir: str | None, runs: Path) -> dict[str, Any]:
    """The engine's `cnn` vs the anchor recipe, same process, alternating; seconds, accuracies, ratio."""
    from digitlab.bench import baseline_fast_mnist as baseline
    from digitlab.training.run import RunOptions, run_training

    train_x, train_y, test_x, test_y = baseline.load_mnist_tensors(device, data_dir, dataset or "mnist")
    options = RunOptions(device=device.type, target_acc=TARGET, target_split="test", data_dir=data_dir)
    recipe = recipe_for("cnn", dataset)

    if device.type == "cuda":  # warm-up, not timed: the CUDA context, cuDNN's choices; else seed 0 pays for them
        warm = 2048
        baseline.run_baseline(train_x[:warm], train_y[:warm], test_x[:warm], test_y[:warm], seed=0)
        run_training(recipe.override(limit=warm), RunOptions(device=device.type, data_dir=data_dir),
                     runs / "warm-up", report=False)

    rows = []
    for seed in range(seeds):
        base = baseline.run_baseline(train_x, train_y, test_x, test_y, seed=seed)
        ours = run_training(recipe.override(seed=seed), options, runs / f"cnn-seed{seed}", report=False)
        rows.append({"seed": seed, "baseline_s": base["seconds"], "baseline_acc": base["test_acc"],
                     "digitlab_s": ours.train_seconds, "digitlab_acc": ours.test_acc,
                     "digitlab_time_to_target_s": ours.time_to_target_s})
        print(f"  seed {seed}: baseline {base['seconds']:.2f} s {base['test_acc']:.2%} | "
              f"digitlab cnn {ours.train_seconds:.2f} s {ours.test_acc:.2%}", flush=True)
    mean = {k: statistics.mean(r[k] for r in rows) for k in ("baseline_s", "baseline_acc", "digitlab_s",
                                                              "digitlab_acc")}
    figures = {"recipe": "cnn", "seeds": seeds, "target_test_acc": TARGET, "runs": rows,
               "baseline_mean_s": mean["baseline_s"], "baseline_mean_acc": mean["baseline_acc"],
               "digitlab_mean_s": mean["digitlab_s"], "digitlab_mean_acc": mean["digitlab_acc"],
               "digitlab_min_acc": min(r["digitlab_acc"] for r in rows),
               "speedup": mean["baseline_s"] / mean["digitlab_s"], "target_met": mean["digitlab_acc"] >= TARGET,
               "timed": "baseline: model creation + one epoch (fp32); digitlab: the engine's epoch loop "
                        "(bf16 autocast on CUDA); neither counts data loading or the test evaluation"}
    print(f"  mean: baseline {mean['baseline_s']:.2f} s, digitlab {mean['digitlab_s']:.2f} s, "
          f"speed-up {figures['speedup']:.2f}x, digitlab test {mean['digitlab_acc']:.2%}", flush=True)
    if dataset is None and not figures["target_met"]:  # the dry run is too small to reach 99%
        figures.update(ok=False, problem=f"mean test accuracy {mean['digitlab_acc']:.2%} < {TARGET:.0%}")
    return figures


def recognizer(device: Any, dataset: str | None, data_dir: str | None, runs: Path,
               keep: dict[str, Any]) -> dict[str, Any]:
    """One epoch of the shipped model's recipe; the trained run is kept for the export step."""
    import torch

    from digitlab.training.engine import autocast
    from digitlab.training.run import RunOptions, run_training

    recipe = recipe_for("recognizer", dataset).override(epochs=1)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result = run_training(recipe, RunOptions(device=device.type, data_dir=data_dir), runs / "recognizer",
                          report=False)
    keep["recognizer"] = result
    amp = autocast(device)
    train_images = json.loads((result.run_dir / "config.json").read_text())["data"]["train"]
    figures = {"recipe": "recognizer", "epochs": 1, "train_images": train_images,
               "train_seconds": result.train_seconds, "images_per_s": train_images / result.train_seconds,
               "val_acc": result.best_val_acc, "test_acc": result.test_acc,
               "autocast": str(getattr(amp, "fast_dtype", None)) if device.type == "cuda" else None,
               "run_dir": str(result.run_dir)}
    if device.type == "cuda":
        figures["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        if getattr(amp, "fast_dtype", None) != torch.bfloat16:
            figures.update(ok=False, problem=f"training on CUDA autocasts to {figures['autocast']}, not bfloat16")
    print(f"  recognizer: 1 epoch {result.train_seconds:.2f} s, val {result.best_val_acc:.2%}, "
          f"test {result.test_acc:.2%}", flush=True)
    if dataset is None and result.test_acc < RECOGNIZER_FLOOR:
        figures.update(ok=False, problem=f"test accuracy {result.test_acc:.2%} after one epoch < "
                                         f"{RECOGNIZER_FLOOR:.0%}")
    return figures


def onnx(data_dir: str | None, out_dir: Path, keep: dict[str, Any]) -> dict[str, Any]:
    """Export the CUDA-trained recognizer to ONNX and check it as `digitlab export --check` does."""
    import numpy as np

    from digitlab.export import export_model, get_format
    from digitlab.export.check import check_export, evaluation_data
    from digitlab.inference.inputs import as_unit_images

    if "recognizer" not in keep:
        return {"ok": False, "problem": "the recognizer step failed: no CUDA-trained model to export"}
    model = keep["recognizer"].model
    trained_on = str(model.device)
    test, _ = evaluation_data(model, None, data_dir)  # the dataset it was trained on: MNIST, or the dry run's
    device_logits = model.logits(as_unit_images(test.images))  # on the training device, before the export
    path = export_model(model, "onnx", out_dir / "recognizer.onnx")
    result = check_export("onnx", path, model, test.images, test.labels)
    ort_logits = np.asarray(get_format("onnx").load("runner")(path, test.images, model), dtype=np.float64)
    figures = {**result.to_json(), "model_device_before_export": trained_on, "bytes": path.stat().st_size,
               "vs_device_logits": {"agreement": float((ort_logits.argmax(1) == device_logits.argmax(1)).mean()),
                                    "max_abs_diff": float(np.abs(ort_logits - device_logits).max())}}
    print(f"  onnx: accuracy {result.accuracy:.2%} (torch {result.reference_accuracy:.2%}), agreement "
          f"{result.agreement:.2%}, max |diff| {result.max_abs_diff:.2g}; vs the {trained_on} logits: max |diff| "
          f"{figures['vs_device_logits']['max_abs_diff']:.2g}", flush=True)
    if not result.goal_met:
        figures.update(ok=False, problem=f"goal missed: {result.goal}")
    return figures


def serve(device: Any) -> dict[str, Any]:
    """One POST /v1/recognize to the in-process app serving the shipped model on ``device`` (torch runtime)."""
    try:
        from fastapi.testclient import TestClient

        from digitlab.serve import ServiceSettings, create_app
    except ImportError as e:
        return {"ok": False, "problem": f"serving needs the serve extra and httpx ({e.name} is missing): "
                                        "pip install 'digitlab[serve]' httpx"}
    app = create_app(ServiceSettings(model="default", device=device.type, runtime="torch"))
    with TestClient(app) as client:  # runs the app's start-up (warm-up), as uvicorn would
        served_on = str(getattr(app.state.service.model, "device", "cpu"))  # ONNX Runtime models are the CPU's
        start = time.perf_counter()
        response = client.post("/v1/recognize?multi=true", content=PHOTO.read_bytes(),
                               headers={"Content-Type": "image/jpeg"})
        wall_ms = (time.perf_counter() - start) * 1e3
        body = response.json()
        models = client.get("/v1/models").json()
    figures = {"model_device": served_on, "status": response.status_code, "digits": body.get("digits"),
               "confidence": body.get("confidence"), "timing_ms": body.get("timing_ms"),
               "request_wall_ms": round(wall_ms, 2), "runtime": models.get("runtime"),
               "api_device": models.get("device")}
    print(f"  serve: {PHOTO.name} -> {figures['digits']!r} on {served_on} in {wall_ms:.1f} ms", flush=True)
    if response.status_code != 200 or body.get("digits") != "2026":
        figures.update(ok=False, problem=f"status {response.status_code}, read {body.get('digits')!r}, wanted '2026'")
    elif not served_on.startswith(device.type):
        figures.update(ok=False, problem=f"the served model is on {served_on}, not {device.type}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--quick", action="store_true", help="A dry run with tiny limits (for the CPU test).")
    parser.add_argument("--seeds", type=int, default=None, help="Speed runs of each (default 3; 1 with --quick).")
    parser.add_argument("--data-dir", default=None, help="Where MNIST is cached (default: $DIGITLAB_DATA, else "
                                                         "~/.cache/digitlab); a CUDA machine offline needs it there.")
    parser.add_argument("--out", type=Path, default=CHECKOUT / "build" / "gpu-check.json")
    args = parser.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu-check: no CUDA device (torch {torch.__version__} sees none; CUDA build: "
              f"{torch.version.cuda or 'no'}). Run it on a CUDA machine, or --device cpu --quick for a dry run.",
              file=sys.stderr)
        return 2
    device = torch.device(args.device)
    seeds = args.seeds or (1 if args.quick else 3)
    started = time.perf_counter()
    from digitlab.data import load_dataset
    from digitlab.errors import DigitlabError

    try:
        load_dataset("mnist", args.data_dir)  # fetched (or found) first: a missing dataset is one clear line
    except DigitlabError as e:
        print(f"gpu-check: {e}", file=sys.stderr)
        return 1
    steps, keep = Steps(), {}
    with tempfile.TemporaryDirectory(prefix="digitlab-gpu-check-") as tmp:
        runs = Path(tmp)
        dataset = small_mnist(args.data_dir, runs / "small-mnist") if args.quick else None
        steps.run("speed: cnn vs the anchor recipe", lambda: speed(device, seeds, dataset, args.data_dir, runs))
        steps.run("recognizer: one epoch", lambda: recognizer(device, dataset, args.data_dir, runs, keep))
        steps.run("onnx: export the trained recognizer and --check it", lambda: onnx(args.data_dir, runs, keep))
        steps.run(f"serve: one request with the model on {device.type}", lambda: serve(device))
    total = time.perf_counter() - started
    if not args.quick:
        steps.run(f"time: the whole check under {TIME_LIMIT_S} s", lambda: (
            {} if total <= TIME_LIMIT_S else {"ok": False, "problem": f"took {total:.0f} s"}))
    doc = {"check": "gpu-check", "quick": args.quick, "ok": steps.ok, "total_seconds": round(total, 2),
           "machine": machine(device), "steps": steps.results}
    from digitlab.utils.fileio import atomic_write_json

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, doc)
    passed = sum(r["ok"] for r in steps.results.values())
    print(f"gpu-check: {passed} passed, {len(steps.results) - passed} failed in {total:.0f} s; figures in {args.out}")
    return 0 if steps.ok else 1


if __name__ == "__main__":
    sys.exit(main())
