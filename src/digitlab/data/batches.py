"""Mini-batches straight from tensors kept on the training device.

MNIST fits in memory many times over, so a DataLoader's worker and per-sample machinery is pure
overhead here: the whole split is converted and normalised once, and each batch is one index gather.

Under DistributedDataParallel (``rank``/``world_size``) every rank holds the whole split and draws the same
epoch permutation from the same seeded generator; batch i is the same images as in one process, and rank r takes
the r-th of ``world_size`` disjoint slices of it. The recipe's batch size therefore stays the global batch (per-rank
batch = batch / world size) and its learning rate keeps its meaning; a last batch too small to give every rank
two images is dropped. Without shuffling (evaluation) each rank takes one contiguous share of the split.
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
                 drop_last: bool = False, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside a world of {world_size}")
        self.x = to_tensor(digits.images, normalization, device)
        self.y = torch.from_numpy(np.ascontiguousarray(digits.labels)).to(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        # The generator lives on the CPU so the order is identical on every device.
        self.generator = torch.Generator().manual_seed(seed)
        self.rank, self.world_size = rank, world_size
        if world_size > 1 and not shuffle:  # evaluation: this rank's contiguous share, in order
            n = len(self.y)
            lo, hi = n * rank // world_size, n * (rank + 1) // world_size
            self.x, self.y = self.x[lo:hi], self.y[lo:hi]
            self.total = n
        else:
            self.total = len(self.y)  # the images of the split over every rank

    def __len__(self) -> int:
        n = len(self.y)
        if self.drop_last:
            return n // self.batch_size
        steps = -(-n // self.batch_size)
        if self.world_size > 1 and self.shuffle and 0 < n % self.batch_size < 2 * self.world_size:
            steps -= 1  # a last batch that cannot give each rank two images (BatchNorm needs two): dropped
        return steps

    def global_size(self, step: int) -> int:
        """The images of batch ``step`` (from 0) over every rank."""
        return min(len(self.y), (step + 1) * self.batch_size) - step * self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.world_size > 1 and self.shuffle:
            yield from self._shards()
            return
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

    def _shards(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.y), generator=self.generator).to(self.x.device)
        for i in range(len(self)):
            start, m = i * self.batch_size, self.global_size(i)
            idx = order[start + m * self.rank // self.world_size:start + m * (self.rank + 1) // self.world_size]
            yield self.x.index_select(0, idx), self.y.index_select(0, idx)

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)
