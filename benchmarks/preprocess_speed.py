"""Latency of the image side of `digitlab.recognize`: decode + extract_digits, no model.

Inputs a web service sees: a 28x28 MNIST test digit as a grey PNG; a 280x280 drawing of it as on a
web canvas, dark ink on white, as a grey PNG, an RGB PNG and the RGBA PNG (black strokes on a
transparent canvas) a browser's toDataURL gives; and the 1-megapixel JPEG photo that `digitlab bench
predict` times end to end. Reports wall-clock p50/p99 over --runs, and the p50 of CPU time (on a shared
machine, what other jobs do not inflate).

``--against REF`` also times the vision package as it is at a git ref (HEAD, a stash, a commit; from a git
checkout), interleaved with the working tree's in blocks of 10 runs so that machine noise hits both alike, and says
whether both give the same 28x28 images. ``--accuracy N`` reads the first N test digits drawn each way with
each version and reports the default model's accuracy (photos: benchmarks/photo_eval.py):

    DIGITLAB_DATA=/tmp/dl-data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/preprocess_speed.py \
        --runs 500 --against HEAD --json
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
VISION = "src/digitlab/vision"


def drawings(digit: np.ndarray) -> dict[str, bytes]:
    """One MNIST digit (28x28, light on black) encoded as each kind of drawing, by name."""
    coverage = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BILINEAR))
    canvas = Image.fromarray(255 - coverage)  # dark ink on white
    # What a browser's canvas.toDataURL() gives for black strokes on a cleared canvas: ink is opacity.
    transparent = Image.fromarray(np.dstack([np.zeros_like(coverage)] * 3 + [coverage]), "RGBA")
    return {"mnist28_png": encode(Image.fromarray(digit), "PNG"),
            "canvas280_png": encode(canvas, "PNG"),
            "canvas280_rgb_png": encode(canvas.convert("RGB"), "PNG"),
            "canvas280_rgba_png": encode(transparent, "PNG")}


def inputs(test) -> dict[str, bytes]:
    """The timed images: the drawings of test digit 0 (a 7) and the photo `digitlab bench predict` reads."""
    from digitlab.vision.synthetic import photo_digit

    digit = test.images[0]
    photo = photo_digit(digit, np.random.default_rng(0)).convert("RGB").resize((1000, 1000))
    return {**drawings(digit), "photo1mp_jpeg": encode(photo, "JPEG", quality=90)}


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def vision_at(ref: str, into: Path):
    """The vision package as committed at ``ref``, importable beside the working tree's as its own package."""
    name = "vision_at_ref"
    package = into / name
    package.mkdir()
    files = subprocess.run(["git", "ls-tree", "--name-only", f"{ref}:{VISION}"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for file in files:
        if file.endswith(".py"):
            text = subprocess.run(["git", "show", f"{ref}:{VISION}/{file}"], cwd=ROOT, check=True,
                                  capture_output=True, text=True).stdout
            (package / file).write_text(text.replace("digitlab.vision", name))
    sys.path.insert(0, str(into))
    return importlib.import_module(name)


def pipeline(vision, multi: bool | None):
    """decode + extract_digits as `digitlab.recognize` calls them; returns the 28x28 images."""
    def run(data: bytes) -> list[np.ndarray]:
        decoded = vision.read_image(data, max_side=vision.WORK_SIDE)
        return [crop.image for crop in vision.extract_digits(decoded.grey, multi=multi)]
    return run


def percentiles(seconds: list[float], cpu_seconds: list[float]) -> dict[str, float]:
    """Wall-clock p50/p99/min, and the p50 of CPU time (process_time): on a shared machine the time this
    process actually ran, without the waits for a core that other people's jobs cause."""
    from digitlab.bench.stats import latency_summary

    return {**latency_summary(seconds, (50, 99, 0), digits=3),
            "cpu_p50_ms": latency_summary(cpu_seconds, (50,), digits=3)["p50_ms"]}


def accuracy(versions: dict, test, count: int) -> dict:
    """The default model's accuracy on the first ``count`` test digits drawn each way, per version, and
    the share of digits whose 28x28 image is the same in every version (photos: benchmarks/photo_eval.py)."""
    from digitlab.inference.classifier import load_classifier

    model = load_classifier("default")
    right = {}
    same = {}
    for index in range(count):
        for kind, data in drawings(test.images[index]).items():
            crops = {version: run(data)[0] for version, run in versions.items()}
            predicted = model.predict_proba(np.stack(list(crops.values()))).argmax(axis=1)
            for version, label in zip(crops, predicted, strict=True):
                right[kind, version] = right.get((kind, version), 0) + int(label == test.labels[index])
            first = next(iter(crops.values()))
            same[kind] = same.get(kind, 0) + all(np.array_equal(first, crop) for crop in crops.values())
    return {kind: {**{version: right[kind, version] / count for version in versions},
                   "same_images": same[kind] / count} for kind in same}


def measure(versions: dict, images: dict[str, bytes], runs: int, block: int = 10) -> dict:
    """Latency per image and version. Each image's runs go in blocks of ``block`` calls, the versions taking
    turns block by block, so that machine noise hits them alike while each block runs warm (one untimed
    call first), as a service answering similar requests one after another does."""
    result = {}
    for image, data in images.items():
        times = {version: ([], []) for version in versions}
        order = list(versions)
        for turn in range(math.ceil(runs / block)):
            for version in order if turn % 2 else order[::-1]:  # alternate who goes first
                run = versions[version]
                run(data)  # warm-up: the other version has just run
                for _ in range(block):
                    start, start_cpu = time.perf_counter(), time.process_time()
                    run(data)
                    times[version][0].append(time.perf_counter() - start)
                    times[version][1].append(time.process_time() - start_cpu)
        result[image] = {version: percentiles(*times[version]) for version in versions}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--against", metavar="REF", help="also time the vision package at this git ref")
    parser.add_argument("--multi", choices=["false", "auto"], default="false",
                        help="extract_digits(multi=False), or None (decide from the ink, as recognize's default)")
    parser.add_argument("--accuracy", type=int, default=0, metavar="N",
                        help="also read the first N test digits drawn each way (no timing)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import digitlab.vision
    from digitlab.data import load_dataset

    multi = False if args.multi == "false" else None
    test = load_dataset("mnist").test
    images = inputs(test)
    versions = {"current": pipeline(digitlab.vision, multi)}
    doc = {"benchmark": "preprocess_speed", "runs": args.runs, "multi": args.multi,
           "bytes": {name: len(data) for name, data in images.items()}, "load_average_1min": [os.getloadavg()[0]]}
    with tempfile.TemporaryDirectory(prefix="digitlab-vision-") as tmp:
        if args.against:
            versions[args.against] = pipeline(vision_at(args.against, Path(tmp)), multi)
            doc["same_images"] = {name: all(np.array_equal(a, b) for a, b in zip(
                versions["current"](data), versions[args.against](data), strict=True))
                for name, data in images.items()}
        doc["latency"] = measure(versions, images, args.runs)
        doc["load_average_1min"].append(os.getloadavg()[0])  # other jobs on the machine slow every figure
        if args.accuracy:
            doc["accuracy"] = accuracy(versions, test, args.accuracy)
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    load = doc["load_average_1min"]
    print(f"decode + extract_digits(multi={multi}), {args.runs} runs; "
          f"1-min load average {load[0]:.1f} -> {load[1]:.1f}")
    for image, by_version in doc["latency"].items():
        cells = "  ".join(f"{v}: p50 {t['p50_ms']:.3f} p99 {t['p99_ms']:.3f} (cpu p50 {t['cpu_p50_ms']:.3f}) ms"
                          for v, t in by_version.items())
        same = f"  same images: {doc['same_images'][image]}" if args.against else ""
        print(f"{image:<20}{cells}{same}")
    for kind, result in doc.get("accuracy", {}).items():
        print(f"{kind:<20}accuracy on {args.accuracy} test digits: "
              + "  ".join(f"{k}: {v:.2%}" for k, v in result.items()))


if __name__ == "__main__":
    main()
