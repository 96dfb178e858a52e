"""The trained module with its input contract baked in, as the exported graphs carry it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Normalized(nn.Module):
    """float (N, 1, 28, 28) in [0, 1] -> the model's outputs, applying the training normalisation.

    The arithmetic is exactly TorchClassifier.logits's ``(x - mean) / std``, so exports match it bit for bit.
    """

    def __init__(self, module: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.module = module
        self.mean = float(mean)
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module((x - self.mean) / self.std)


class AcceptBytes(nn.Module):
    """Also takes uint8 pixels (0..255), scaled to [0, 1] exactly as ``digitlab.inference.inputs`` scales them."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.to(torch.float32) / 255.0
        return self.inner(x)


def normalized(model: Any) -> Normalized:
    """A CPU, eval-mode wrapper of a TorchClassifier's module with its normalisation.

    A module on the CPU is wrapped as it is; one on a GPU is copied, so that exporting a CUDA-trained model
    leaves the caller's model where it was."""
    import copy

    norm = model.normalization
    module = model.module if model.device.type == "cpu" else copy.deepcopy(model.module).cpu()
    return Normalized(module.eval(), norm.mean, norm.std).eval()


def example_input(batch: int = 2) -> torch.Tensor:
    """A fixed float example for tracing and export (values matter only for shape inference)."""
    return torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))
