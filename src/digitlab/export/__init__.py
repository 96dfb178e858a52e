"""Deploy formats for trained torch models, one small module each, and the table that names them.

``export_model(model, "onnx", "model.onnx")`` writes one artifact; ``digitlab.export.check.check_export``
runs it with its own runtime on labelled images and compares it with PyTorch.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.errors import ModelError


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str  # appended to the model's name for the default output path
    exporter: str  # "module:function" (model, path, **kw) -> Path
    runner: str  # "module:function" (path, uint8 images (N, 28, 28), model) -> logits (N, C) float
    description: str
    quantized: bool = False

    def load(self, which: str) -> Callable[..., Any]:
        module, _, attr = getattr(self, which).partition(":")
        return getattr(importlib.import_module(f"digitlab.export.{module}"), attr)


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("state-dict", ".state_dict.pt", "state_dict:export_state_dict", "state_dict:run_state_dict",
                     "torch.save(model.state_dict()), as seed 001 saves it"),
        ExportFormat("torchscript", ".torchscript.pt", "torchscript:export_torchscript", "torchscript:run_torchscript",
                     "TorchScript for libtorch (C++): uint8 or float (N,1,28,28), normalisation baked in"),
        ExportFormat("onnx", ".onnx", "onnx_export:export_onnx", "onnx_export:run_onnx",
                     "ONNX (opset 17, dynamic batch): float (N,1,28,28) in [0,1], normalisation baked in"),
        ExportFormat("onnx-int8", ".int8.onnx", "quantize:export_onnx_int8", "onnx_export:run_onnx",
                     "ONNX with static int8 quantisation (ONNX Runtime), calibrated on training images",
                     quantized=True),
        ExportFormat("c", "-c", "c_export:export_c", "c_export:run_c",
                     "dependency-free C99 (int8 weights, integer-only arithmetic) for lenet-lite and the MLPs",
                     quantized=True),
        ExportFormat("hls4ml", "-hls4ml", "hls4ml_export:export_hls4ml", "hls4ml_export:run_hls4ml",
                     "hls4ml HLS project (Vitis, ap_fixed<24,10>); --check runs its C simulation (needs hls4ml)",
                     quantized=True),
    )
}


def get_format(name: str) -> ExportFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ModelError(f"unknown export format {name!r}; choose from {', '.join(FORMATS)}") from None


def torch_model(model: Any) -> Any:
    """The TorchClassifier behind ``model``; the NumPy from-scratch network has no export path."""
    from digitlab.inference.classifier import TorchClassifier

    if not isinstance(model, TorchClassifier):
        raise ModelError(f"model {getattr(model, 'name', model)!r} is not a torch model; export needs one")
    return model


def export_model(model: Any, fmt: str, out: str | os.PathLike, *,
                 calibration: np.ndarray | None = None) -> Path:
    """Write ``model`` (a loaded TorchClassifier) in format ``fmt`` to ``out``; returns the path written.

    ``calibration``: uint8 training images (N, 28, 28) for the quantised formats (onnx-int8, c).

    >>> export_model(digitlab.load("runs/lenet"), "onnx", "lenet.onnx")   # doctest: +SKIP
    PosixPath('lenet.onnx')
    """
    spec = get_format(fmt)
    kw = {"calibration": calibration} if spec.quantized else {}
    return spec.load("exporter")(torch_model(model), Path(out), **kw)


def default_output(model: Any, fmt: str) -> Path:
    """Where `digitlab export` writes when --out is not given: the current directory, named by model and format."""
    return Path(f"{model.name}{get_format(fmt).suffix}")
