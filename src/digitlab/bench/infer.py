"""Inference speed of each deploy runtime on the same model, same inputs, same run (`digitlab bench infer`).

Throughput at batch 1 and a large batch, single-image latency percentiles, and the machine's arithmetic roof (a
large fp32 matmul's FLOP/s, measured in the same run) so that a small model's best figure can be read as a
fraction of what the CPU could do. The runtimes come from digitlab.bench.runtimes.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.bench.runtimes import build_runtimes, first_output
from digitlab.bench.stats import latency_summary
from digitlab.bench.timing import latencies, matmul_roof, throughput


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
        agreement = {r.name: float((np.asarray(first_output(r.run(r.convert(big)))).argmax(axis=1) == expected).mean())
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
        latency = latency_summary(np.concatenate(lat[r.name]), (50, 99))
        rows.append({"runtime": r.name, "note": r.note, "agreement_with_eager": agreement[r.name],
                     "batch1_images_per_s": statistics.median(samples[r.name]["b1"]),
                     f"batch{big_batch}_images_per_s": statistics.median(samples[r.name]["big"]),
                     "latency_p50_ms": latency["p50_ms"], "latency_p99_ms": latency["p99_ms"]})
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
