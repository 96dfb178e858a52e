"""``onnx-int8``: the fp32 ONNX export statically quantised to int8 by ONNX Runtime's quantiser.

Weights int8 per output channel, activations uint8 per tensor (QDQ format, which ORT fuses into integer
kernels), calibrated with min/max on training images. ``reduce_range`` keeps weights to 7 bits: this CPU has
AVX2 without VNNI, where ORT's u8s8 kernels can saturate at full range.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.errors import ModelError
from digitlab.export.onnx_export import INPUT, check_onnx, onnx_bytes, require
from digitlab.inference.normalization import unit_nchw

CALIBRATION_IMAGES = 1000
CALIBRATION_BATCH = 100


def calibration_subset(images: np.ndarray, n: int = CALIBRATION_IMAGES, seed: int = 0) -> np.ndarray:
    """A fixed random subset of uint8 training images: every class, deterministic across runs."""
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(images), size=min(n, len(images)), replace=False))
    return images[index]


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol over uint8 images (fed as float in [0, 1])."""

    def __init__(self, images: np.ndarray) -> None:
        self.batches = iter([unit_nchw(images[i:i + CALIBRATION_BATCH])
                             for i in range(0, len(images), CALIBRATION_BATCH)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {INPUT: batch}


def default_calibration() -> np.ndarray:
    """Training images of MNIST (the calibration set when the caller gives none)."""
    from digitlab.data.datasets import load_dataset

    return calibration_subset(load_dataset("mnist").train_full.images)


def export_onnx_int8(model: Any, path: Path, calibration: np.ndarray | None = None) -> Path:
    require("onnxruntime")
    require("onnxruntime")
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = calibration_subset(calibration) if calibration is not None else default_calibration()
    path.parent.mkdir(parents=True, exist_ok=True)
    # ORT's quantiser writes files itself: work in temp files beside the target, then rename atomically.
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        fp32.write_bytes(onnx_bytes(model))
        prepared = Path(tmp) / "prepared.onnx"
        quantized = Path(tmp) / "int8.onnx"
        try:
            quant_pre_process(str(fp32), str(prepared))  # shape inference + graph optimisation, as ORT advises
            quantize_static(str(prepared), str(quantized), _Reader(images), quant_format=QuantFormat.QDQ,
                            per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        except Exception as e:  # the quantiser raises plain exceptions for unsupported graphs
            raise ModelError(f"model {model.name!r}: ONNX Runtime could not quantise it: {e}") from None
        check_onnx(quantized.read_bytes(), str(path))
        with open(quantized, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(quantized, 0o644)
        os.replace(quantized, path)
    return path
