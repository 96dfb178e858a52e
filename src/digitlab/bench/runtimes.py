"""Inference speed of each deploy runtime on the same model, same inputs, same run (`digitlab bench infer`).

Each runtime is a function from a batch to outputs. Throughput at batch 1 and a large batch, single-image
latency percentiles, and the machine's arithmetic roof (a large fp32 matmul's FLOP/s, measured in the same run)
so that a small model's best figure can be read as a fraction of what the CPU could do.
"""

from __future__ import annotations

import ctypes
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.errors import ModelError


@dataclass
class Runtime:
    name: str
    run: Callable[[np.ndarray], Any]  # a batch of inputs in this runtime's own form -> outputs
    convert: Callable[[np.ndarray], Any]  # uint8 (N, 28, 28) -> that form (done outside the timing)
    note: str = ""


def _float_nchw(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images, dtype=np.float32)[:, None] / np.float32(255.0)


def build_runtimes(model: Any, workdir: Path, calibration: np.ndarray, with_c: bool = True,
                   threads: int | None = None) -> tuple[list[Runtime], list[str]]:
    """Export ``model`` into ``workdir`` in every format and wrap each runtime; returns (runtimes, skipped notes)."""
    import torch

    from digitlab.export import export_model
    from digitlab.export.onnx_export import session
    from digitlab.export.torchscript import load_torchscript
    from digitlab.export.wrapped import normalized

    eager = normalized(model)
    ts = load_torchscript(export_model(model, "torchscript", workdir / "m.torchscript.pt"))

    def torch_runner(module: Any) -> Callable[[Any], Any]:
        def run(x: Any) -> Any:
            with torch.inference_mode():
                return module(x)
        return run

    to_tensor = lambda images: torch.from_numpy(_float_nchw(images))  # noqa: E731
    runtimes = [Runtime("pytorch-eager-fp32", torch_runner(eager), to_tensor),
                Runtime("torchscript-fp32", torch_runner(ts), to_tensor)]
    for fmt, name in (("onnx", "onnxruntime-fp32"), ("onnx-int8", "onnxruntime-int8")):
        sess = session(export_model(model, fmt, workdir / f"m.{fmt}.onnx", calibration=calibration), threads)
        input_name = sess.get_inputs()[0].name
        runtimes.append(Runtime(name, lambda x, s=sess, n=input_name: s.run(None, {n: x}), _float_nchw))
    skipped = []
    if with_c:
        try:
            runtimes += [c_runtime(model, workdir, calibration, "c-int8", ()),
                         c_runtime(model, workdir, calibration, "c-int8-native", ("-O3", "-march=native"))]
        except ModelError as e:
            skipped.append(f"c-int8: {e}")
    return runtimes, skipped


def c_runtime(model: Any, workdir: Path, calibration: np.ndarray, name: str, flags: tuple[str, ...]) -> Runtime:
    """The C export compiled as a shared library (the program's -O2, plus ``flags``), called through ctypes."""
    import json

    from digitlab.export import export_model
    from digitlab.export.c_export import compile_c

    directory = workdir / "m-c"
    if not (directory / "export.json").exists():
        export_model(model, "c", directory, calibration=calibration)
    classes = len(json.loads((directory / "export.json").read_text())["classes"])
    lib = ctypes.CDLL(str(compile_c(directory, workdir / f"lib{name}.so", shared=True, extra=flags)))
    lib.digitlab_forward_batch.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p]
    lib.digitlab_forward_batch.restype = None

    def run(images: np.ndarray) -> np.ndarray:
        logits = np.empty((len(images), classes), np.int32)
        lib.digitlab_forward_batch(images.ctypes.data, len(images), logits.ctypes.data)
        return logits

    return Runtime(name, run, lambda images: np.ascontiguousarray(images, dtype=np.uint8),
                   note=" ".join(("one thread, cc -O2", *flags)))


def throughput(run: Callable[[Any], Any], batch: Any, n_images: int, min_seconds: float = 0.5,
               min_repeats: int = 3) -> float:
    """Images per second: the median over repeats (at least ``min_repeats``, at least ``min_seconds`` in all)."""
    run(batch)  # warm-up: first-call allocation, TorchScript's profiling runs
    run(batch)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - t)
    return n_images / statistics.median(times)


def latencies(run: Callable[[Any], Any], one: Any, count: int = 1000, max_seconds: float = 3.0) -> np.ndarray:
    """Seconds per single-image call, ``count`` calls (fewer if ``max_seconds`` runs out), after a warm-up."""
    for _ in range(20):
        run(one)
    out = []
    deadline = time.perf_counter() + max_seconds
    while len(out) < count and (len(out) < 100 or time.perf_counter() < deadline):
        t = time.perf_counter_ns()
        run(one)
        out.append((time.perf_counter_ns() - t) * 1e-9)
    return np.asarray(out)


def matmul_roof(size: int = 1024, min_seconds: float = 1.0) -> float:
    """FLOP/s of a large fp32 matrix product (torch, all threads): this machine's practical arithmetic peak."""
    import torch

    a = torch.randn(size, size, generator=torch.Generator().manual_seed(0))
    b = torch.randn(size, size, generator=torch.Generator().manual_seed(1))
    torch.mm(a, b)
    best = float("inf")
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def benchmark(model: Any, images: np.ndarray, calibration: np.ndarray, big_batch: int = 1024,
              rounds: int = 3, progress: Callable[[str], None] = lambda _: None,
              min_seconds: float = 0.5, latency_calls: int = 1000, threads: int | None = None) -> dict[str, Any]:
    """Every runtime at batch 1 and ``big_batch``, interleaved over ``rounds`` (medians reported), plus the roof.

    ``min_seconds`` and ``latency_calls`` set how long each measurement runs (tests shrink them); ``threads``
    sets torch's and ONNX Runtime's intra-op threads (default: theirs, one per core)."""
    import torch

    from digitlab.models.complexity import torch_complexity

    if threads:
        torch.set_num_threads(threads)
    params, macs = torch_complexity(model.module)
    load_start = os.getloadavg()[0]
    big = images[:big_batch]
    with tempfile.TemporaryDirectory(prefix="digitlab-bench-infer-") as tmp:
        progress("exporting to every format...")
        runtimes, skipped = build_runtimes(model, Path(tmp), calibration, threads=threads)
        # Check first that every runtime answers what PyTorch answers on this batch (else speed means nothing).
        expected = runtimes[0].run(runtimes[0].convert(big)).numpy().argmax(axis=1)
        agreement = {r.name: float((np.asarray(_first(r.run(r.convert(big)))).argmax(axis=1) == expected).mean())
                     for r in runtimes}
        samples: dict[str, dict[str, list[float]]] = {r.name: {"b1": [], "big": []} for r in runtimes}
        lat: dict[str, list[np.ndarray]] = {r.name: [] for r in runtimes}
        roofs = []
        for k in range(rounds):
            progress(f"round {k + 1}/{rounds}")
            roofs.append(matmul_roof(min_seconds=2 * min_seconds))
            for r in runtimes:
                x_big, x_one = r.convert(big), r.convert(images[:1])
                samples[r.name]["big"].append(throughput(r.run, x_big, len(big), min_seconds))
                one = latencies(r.run, x_one, latency_calls, max_seconds=6 * min_seconds)
                lat[r.name].append(one)
                samples[r.name]["b1"].append(1.0 / float(np.mean(one)))
    roof = statistics.median(roofs)
    load = os.getloadavg()[0]  # other processes' load skews every figure; recorded so a reader can tell
    flops = 2 * macs
    rows = []
    for r in runtimes:
        all_lat = np.concatenate(lat[r.name])
        rows.append({"runtime": r.name, "note": r.note, "agreement_with_eager": agreement[r.name],
                     "batch1_images_per_s": statistics.median(samples[r.name]["b1"]),
                     f"batch{big_batch}_images_per_s": statistics.median(samples[r.name]["big"]),
                     "latency_p50_ms": float(np.percentile(all_lat, 50) * 1e3),
                     "latency_p99_ms": float(np.percentile(all_lat, 99) * 1e3)})
    eager, big_key = rows[0], f"batch{big_batch}_images_per_s"
    for row in rows:
        row["speedup_batch1"] = row["batch1_images_per_s"] / eager["batch1_images_per_s"]
        row[f"speedup_batch{big_batch}"] = row[big_key] / eager[big_key]
    best = max(rows, key=lambda row: row[big_key])
    # The roof is fp32 arithmetic: int8 kernels are not bound by it, so the fraction is read off the best fp32 one.
    best_fp32 = max((row for row in rows if "int8" not in row["runtime"]), key=lambda row: row[big_key])
    roof_images = roof / flops
    return {"benchmark": "infer", "model": model.name, "params": params, "macs_per_image": macs,
            "flops_per_image": flops, "batch": big_batch, "rounds": rounds, "threads": torch.get_num_threads(),
            "runtimes": rows, "skipped": skipped, "load_average_1min": {"start": load_start, "end": load},
            "roof": {"matmul_fp32_gflops": roof / 1e9, "images_per_s_at_roof": roof_images,
                     "best_fp32_runtime": best_fp32["runtime"], "best_fp32_images_per_s": best_fp32[big_key],
                     "best_fp32_fraction_of_roof": best_fp32[big_key] / roof_images,
                     "best_runtime": best["runtime"], "best_images_per_s": best[big_key],
                     "best_fraction_of_roof": best[big_key] / roof_images},
            "best_speedup_vs_eager": best[f"speedup_batch{big_batch}"]}


def _first(outputs: Any) -> Any:
    """ORT returns a list of outputs; torch a tensor."""
    first = outputs[0] if isinstance(outputs, list) else outputs
    return first.numpy() if hasattr(first, "numpy") else first
