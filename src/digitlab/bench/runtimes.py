"""Every deploy runtime of one model, as a function from a batch to outputs (`digitlab bench infer` times them).

PyTorch eager, TorchScript, ONNX Runtime fp32 and int8, and the C export (called through ctypes): each exported
into a work directory and wrapped as a ``Runtime`` whose ``convert`` turns uint8 images into its own input form
outside the timing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.errors import ModelError
from digitlab.inference.normalization import unit_nchw


@dataclass
class Runtime:
    """One way to run the model: ``run(convert(uint8 images))`` -> its outputs (logits, or ORT's list of them)."""

    name: str
    run: Callable[[np.ndarray], Any]  # a batch of inputs in this runtime's own form -> outputs
    convert: Callable[[np.ndarray], Any]  # uint8 (N, 28, 28) -> that form (done outside the timing)
    note: str = ""


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

    to_tensor = lambda images: torch.from_numpy(unit_nchw(images))  # noqa: E731
    runtimes = [Runtime("pytorch-eager-fp32", torch_runner(eager), to_tensor),
                Runtime("torchscript-fp32", torch_runner(ts), to_tensor)]
    for fmt, name in (("onnx", "onnxruntime-fp32"), ("onnx-int8", "onnxruntime-int8")):
        sess = session(export_model(model, fmt, workdir / f"m.{fmt}.onnx", calibration=calibration), threads)
        input_name = sess.get_inputs()[0].name
        runtimes.append(Runtime(name, lambda x, s=sess, n=input_name: s.run(None, {n: x}), unit_nchw))
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


def first_output(outputs: Any) -> np.ndarray:
    """A runtime's outputs as one NumPy array: ORT returns a list of outputs, torch a tensor."""
    first = outputs[0] if isinstance(outputs, list) else outputs
    return first.numpy() if hasattr(first, "numpy") else first
