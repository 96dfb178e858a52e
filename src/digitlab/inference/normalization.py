"""How pixels reach a network: uint8 0-255 -> float in [0, 1] -> ``(x - mean) / std``.

One value, ``Normalization``, used by training batches, every classifier runtime, the exports and the benchmarks,
and stored in model.json as ``{"name", "mean", "std"}``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from digitlab.errors import DataError

PRESETS: dict[str, tuple[float, float]] = {
    "none": (0.0, 1.0),  # pixels in [0, 1] (seed 001)
    "mnist": (0.1307, 0.3081),  # the dataset's own mean and std (seed 002, pytorch/examples)
    "symmetric": (0.5, 0.5),  # [-1, 1] (seed 000)
}

Array = TypeVar("Array")  # a numpy array or a torch tensor: ``apply`` returns the same kind


@dataclass(frozen=True)
class Normalization:
    """The input normalisation a model was trained with.

    >>> norm = Normalization.named("mnist")
    >>> norm.apply(np.full((1, 28, 28), 255, np.uint8)).max().round(4)
    np.float32(2.8215)
    """

    name: str = "none"
    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def named(cls, name: str) -> Normalization:
        """A preset: ``none``, ``mnist`` or ``symmetric``."""
        try:
            mean, std = PRESETS[name]
        except KeyError:
            raise DataError(f"unknown normalisation {name!r}; choose from {', '.join(PRESETS)}") from None
        return cls(name, mean, std)

    @classmethod
    def from_json(cls, doc: dict[str, Any] | str | Normalization) -> Normalization:
        """From model.json's ``normalization`` entry (or a preset name)."""
        if isinstance(doc, Normalization):
            return doc
        if isinstance(doc, str):
            return cls.named(doc)
        try:
            return cls(str(doc.get("name", "custom")), float(doc["mean"]), float(doc["std"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DataError(f"bad normalisation entry {doc!r} (needs mean and std)") from None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_identity(self) -> bool:
        return self.mean == 0.0 and self.std == 1.0

    def apply(self, x: Array) -> Array:
        """uint8 pixels (divided by 255) or floats in [0, 1], numpy or torch, any shape -> normalised float32."""
        if isinstance(x, np.ndarray):
            x = x.astype(np.float32) / np.float32(255.0) if x.dtype == np.uint8 else x.astype(np.float32, copy=False)
            return x if self.is_identity else (x - np.float32(self.mean)) / np.float32(self.std)
        import torch

        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        return x if self.is_identity else (x - self.mean) / self.std


def unit_nchw(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> contiguous float32 (N, 1, 28, 28) in [0, 1]: the input of the exported graphs, which
    apply the model's own normalisation inside."""
    return np.ascontiguousarray(Normalization().apply(np.asarray(images)[:, None]))
