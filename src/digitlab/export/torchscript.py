"""``torchscript``: a traced module for libtorch (C++), normalisation baked in, uint8 or float input."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.errors import ModelError
from digitlab.export.wrapped import AcceptBytes, example_input, normalized
from digitlab.utils.fileio import atomic_write_bytes


def to_torchscript(model: Any) -> Any:
    """Trace the normalised module (plain feed-forward nets trace exactly), then script the thin uint8/float
    dispatch around it: a dtype branch is exactly what tracing would freeze."""
    import torch

    net = normalized(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated, yet it is what libtorch loads
        try:
            with torch.no_grad():
                traced = torch.jit.trace(net, example_input(), check_trace=True)
        except Exception as e:  # tracing raises many types; the message is what the user needs
            raise ModelError(f"model {model.name!r} cannot be traced for TorchScript: {e}") from None
        return torch.jit.script(AcceptBytes(traced))


def export_torchscript(model: Any, path: Path) -> Path:
    import torch

    buffer = io.BytesIO()
    module = to_torchscript(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(module, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_torchscript(path: Path) -> Any:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()


def run_torchscript(path: Path, images: np.ndarray, model: Any = None, batch_size: int = 1000) -> np.ndarray:
    """The exported file run by torch.jit on uint8 (N, 28, 28) images, as the C++ program feeds it."""
    import torch

    module = load_torchscript(path)
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            out.append(module(torch.from_numpy(np.array(images[i:i + batch_size], dtype=np.uint8)).unsqueeze(1)))
    return torch.cat(out).float().numpy()
