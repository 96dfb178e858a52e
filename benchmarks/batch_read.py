"""Images/s reading many photos: one process, the local process pool, and Ray Data on this machine, one run.

    .venv/bin/python benchmarks/batch_read.py --images 600 [--workers 2] [--json]

The photos are synthetic (digitlab.vision.synthetic: MNIST *test* digits as JPEG/PNG photos, 100-400 px; two
thirds single digits, a third numbers of 2-4 digits), written to a temporary directory first (not timed).
Every engine reads the same files with the shipped model in ONNX Runtime, one thread per worker, and must
write the same rows. Timed: one process, from the first file to the last row (model loaded first); the pool and
Ray, the whole ``read_images`` call (worker start-up included), and Ray once more on the warm cluster (its
workers and actors already up: the figure a long job on a cluster approaches). Ray's own start (``ray.init``)
is reported apart. The figures are ratios to the one process measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def make_photos(directory: Path, count: int, seed: int) -> list[str]:
    from digitlab.data.datasets import data_root, load_dataset
    from digitlab.data.mnist_sources import fetch_mnist
    from digitlab.vision.synthetic import photo_digit, photo_number

    fetch_mnist(data_root(None) / "mnist")
    digits = load_dataset("mnist", data_root(None)).test.images
    rng = np.random.default_rng(seed)
    for i in range(count):
        if i % 3 == 2:
            chosen = digits[rng.integers(0, len(digits), int(rng.integers(2, 5)))]
            photo_number(list(chosen), rng, gap=(0.25, 0.5)).save(directory / f"number-{i:05d}.jpg")
        else:
            photo_digit(digits[rng.integers(0, len(digits))], rng).save(directory / f"digit-{i:05d}.png")
    return sorted(str(p) for p in directory.iterdir())


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def rows_of(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(out).to_pylist()


def main() -> None:
    from digitlab.batch import read_images
    from digitlab.batch.output import ResultsFile
    from digitlab.batch.ray_engine import connect
    from digitlab.batch.rows import read_files, worker_classifier
    from digitlab.utils.threads import usable_cpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600, help="photos to read (default 600)")
    parser.add_argument("--workers", type=int, default=usable_cpus(), help="pool processes / Ray CPUs (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="photo generator seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    result: dict = {"images": args.images, "workers": args.workers, "cpus": os.cpu_count(), "load_before": load()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "photos").mkdir()
        files = make_photos(root / "photos", args.images, args.seed)

        worker_classifier("default", "auto")  # the model loaded before the clock starts, as in a worker
        start = time.perf_counter()
        serial = read_files(files, files)
        one = time.perf_counter() - start
        with ResultsFile(root / "serial.parquet") as results:
            results.add(serial)
        result["one_process_s"] = round(one, 2)

        local = read_images(root / "photos", root / "local.parquet", workers=args.workers)
        result["local_pool_s"] = local.seconds

        start = time.perf_counter()
        connect(None, args.workers)
        result["ray_init_s"] = round(time.perf_counter() - start, 2)
        first = read_images(root / "photos", root / "ray.parquet", engine="ray")
        warm = read_images(root / "photos", root / "ray-warm.parquet", engine="ray")
        import ray

        ray.shutdown()
        result["ray_s"], result["ray_warm_s"] = first.seconds, warm.seconds
        expected = rows_of(root / "serial.parquet")
        result["same_rows"] = all(rows_of(root / f"{name}.parquet") == expected
                                  for name in ("local", "ray", "ray-warm"))
    result["load_after"] = load()
    for name in ("one_process", "local_pool", "ray", "ray_warm"):
        result[f"{name}_images_per_s"] = round(args.images / result[f"{name}_s"], 1)
        result[f"{name}_vs_one_process"] = round(result["one_process_s"] / result[f"{name}_s"], 2)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.images} photos, {args.workers} workers, load {result['load_before']} -> {result['load_after']}, "
          f"same rows: {result['same_rows']}; ray.init {result['ray_init_s']} s")
    for name in ("one_process", "local_pool", "ray", "ray_warm"):
        print(f"  {name:12s} {result[f'{name}_s']:8.2f} s  {result[f'{name}_images_per_s']:7.1f} images/s  "
              f"x{result[f'{name}_vs_one_process']:.2f}")


if __name__ == "__main__":
    main()
