"""End-to-end latency of reading one photo (`digitlab bench predict`): decode -> preprocess -> model.

The photo is a 1000x1000 JPEG (q90) of MNIST test digit 0 on synthetic paper. Whole reads and the model alone
on the same crop are interleaved, so machine noise hits both alike.
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np

from digitlab.bench.machine import machine
from digitlab.bench.stats import latency_summary
from digitlab.errors import DigitlabError

RUNTIMES = ("torch", "onnx")
GOAL_P99_MS = 5.0


def one_photo_jpeg(data_dir: str | None = None) -> bytes:
    """The benchmark's photo: MNIST test digit 0 as ``vision.synthetic.photo_digit`` draws it, 1000x1000 JPEG q90."""
    from digitlab.data import load_dataset
    from digitlab.vision.synthetic import photo_digit

    digit = load_dataset("mnist", data_dir).test.images[0]
    photo = photo_digit(digit, np.random.default_rng(0)).convert("RGB").resize((1000, 1000))
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def predict_latency(model: str = "default", runtime: str = "torch", runs: int = 200) -> dict[str, Any]:
    """``runs`` interleaved reads of the photo and model-only calls on its crop: p50/p99/min ms of each.

    ``runtime`` onnx runs the same weights in ONNX Runtime (one thread, as `digitlab serve` runs them).
    """
    from digitlab.inference.classifier import load_classifier
    from digitlab.vision.reader import recognize

    if runtime not in RUNTIMES:
        raise DigitlabError(f"--runtime must be torch or onnx; got {runtime!r}")
    classifier = load_classifier(model)
    if runtime == "onnx":
        from digitlab.inference.onnx_runtime import to_onnx_runtime

        classifier = to_onnx_runtime(classifier, threads=1)
    jpeg = one_photo_jpeg()
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
           "bytes": len(jpeg), "runs": runs, "end_to_end": latency_summary(end_to_end, (50, 99, 0)),
           "model_only": latency_summary(model_only, (50, 99, 0)), "goal_p99_ms": GOAL_P99_MS, "machine": machine()}
    doc["goal_met"] = doc["end_to_end"]["p99_ms"] <= GOAL_P99_MS
    return doc
