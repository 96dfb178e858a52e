"""``onnx``: opset 17, a dynamic batch axis, normalisation baked in; validated with ``onnx.checker``.

The TorchScript-based exporter (``dynamo=False``) is used: it needs only torch, works offline, and takes
about 2 s where the torch.export-based one (which also needs onnxscript) took 40 s for lenet-lite here.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.errors import ModelError
from digitlab.inference.normalization import unit_nchw
from digitlab.utils.fileio import atomic_write_bytes

OPSET = 17
INPUT = "images"
OUTPUT = "logits"


def require(module: str) -> Any:
    """Import an optional dependency of the ONNX formats, or say which extra adds it."""
    from digitlab.utils.extras import require as require_extra

    return require_extra(module, "export", "the ONNX formats")


def onnx_bytes(model: Any) -> bytes:
    """The serialized ONNX model: float (N, 1, 28, 28) in [0, 1] -> (N, C)."""
    import torch

    from digitlab.export.wrapped import example_input, normalized

    require("onnx")  # torch's exporter needs it too, and would fail without naming the extra
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's DeprecationWarning; the path is deliberate
        try:
            torch.onnx.export(normalized(model), (example_input(),), buffer, dynamo=False, opset_version=OPSET,
                              input_names=[INPUT], output_names=[OUTPUT],
                              dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
        except Exception as e:  # unsupported operators and the like
            raise ModelError(f"model {model.name!r} cannot be exported to ONNX: {e}") from None
    return buffer.getvalue()


def check_onnx(data: bytes, name: str) -> None:
    """Run onnx.checker (full check, with shape inference) on serialized model bytes."""
    onnx = require("onnx")

    try:
        onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    except onnx.checker.ValidationError as e:
        raise ModelError(f"{name}: onnx.checker rejected the model: {e}") from None


def export_onnx(model: Any, path: Path) -> Path:
    data = onnx_bytes(model)
    check_onnx(data, str(path))
    atomic_write_bytes(path, data)
    return path


def session(model: Path | bytes, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session for a model file or serialized model.

    ``threads``: intra-op threads; None: digitlab.utils.threads' choice for work of unknown size (an explicit request,
    else one per free CPU). Pool threads sleep between calls instead of spinning: spinning ones fight other
    processes for the cores, as torch's OpenMP threads did.
    """
    from digitlab.utils.threads import free_cpus, requested_threads

    ort = require("onnxruntime")

    count = requested_threads(threads) or free_cpus()
    options = ort.SessionOptions()
    options.intra_op_num_threads = count
    if count > 1:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initializers etc. are noise here
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, images: np.ndarray, model: Any = None, batch_size: int = 1000) -> np.ndarray:
    """The exported file run by ONNX Runtime on float pixels in [0, 1] (uint8 / 255, as digitlab scales them)."""
    sess = session(path)
    name = sess.get_inputs()[0].name
    out = []
    for i in range(0, len(images), batch_size):
        out.append(sess.run(None, {name: unit_nchw(images[i:i + batch_size])})[0])
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
