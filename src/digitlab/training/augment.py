"""Data augmentation on the training device: a random affine warp (rotation, scale, shift) per image.

One ``affine_grid`` + ``grid_sample`` for the whole batch; no per-image Python. Random numbers come from a
seeded CPU generator so runs are reproducible and resumable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Affine:
    rotate: float = 0.0  # degrees, uniform in [-rotate, rotate]
    scale: float = 0.0  # relative, uniform in [1 - scale, 1 + scale]
    shift: float = 0.0  # pixels (of 28), uniform in [-shift, shift] on each axis

    @classmethod
    def from_recipe(cls, spec: dict | None) -> Affine | None:
        return cls(**spec) if spec else None

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        u = torch.rand(n, 4, generator=generator) * 2 - 1  # four uniforms in [-1, 1] per image
        angle = u[:, 0] * math.radians(self.rotate)
        scale = 1 + u[:, 1] * self.scale
        shift = u[:, 2:] * (2 * self.shift / x.shape[-1])  # grid coordinates span 2 over the image width
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        # "border" repeats the edge pixels, which are background in MNIST whatever the normalisation.
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
