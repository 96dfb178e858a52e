"""Mini-batches straight from tensors kept on the training device.

MNIST fits in memory many times over, so a DataLoader's worker and per-sample machinery is pure
overhead here: the whole split is converted and normalised once, and each batch is one index gather.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from digitlab.data.datasets import Digits
from digitlab.inference.normalization import Normalization

IDENTITY = Normalization()


def to_tensor(images: np.ndarray, normalization: Normalization = IDENTITY,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, 28, 28) or (28, 28) -> float32 (N, 1, 28, 28), scaled to [0, 1] then normalised."""
    # The cached dataset arrays are read-only; copying the uint8 bytes (47 MB for all of MNIST) is cheap.
    x = torch.tensor(np.asarray(images), device=device)
    if x.ndim == 2:
        x = x.unsqueeze(0)
    return normalization.apply(x.unsqueeze(1))


class DeviceBatches:
    """Iterate (x, y) batches of a split held on ``device``; reshuffled each pass by a seeded generator."""

    def __init__(self, digits: Digits, batch_size: int, *, normalization: Normalization = IDENTITY,
                 shuffle: bool = False, seed: int = 0, device: torch.device | str = "cpu",
                 drop_last: bool = False) -> None:
        self.x = to_tensor(digits.images, normalization, device)
        self.y = torch.from_numpy(np.ascontiguousarray(digits.labels)).to(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        # The generator lives on the CPU so the order is identical on every device.
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.y)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.x.device)
        for i in range(len(self)):
            lo, hi = i * self.batch_size, min(n, (i + 1) * self.batch_size)
            if self.shuffle:
                idx = order[lo:hi]
                yield self.x.index_select(0, idx), self.y.index_select(0, idx)
            else:
                yield self.x[lo:hi], self.y[lo:hi]

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)
