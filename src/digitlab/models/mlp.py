"""Fully connected ReLU networks: the MLPs of seeds 002 and 003."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from digitlab.models.registry import register_model


@register_model("mlp-312", family="torch", description="MLP 784-312-256-10, ReLU", default_recipe="seed-003",
                defaults={"sizes": (784, 312, 256, 10)}, reproduces="seed-003",
                published="loss falls, accuracy rises (no figure)")
@register_model("mlp-bp", family="torch", description="MLP 784-512-256-10, ReLU (the book's BP net)",
                default_recipe="seed-003-bp", defaults={"sizes": (784, 512, 256, 10)}, reproduces="seed-003",
                published="loss falls, accuracy rises (no figure)")
@register_model("mlp-512", family="torch", description="MLP 784-512-512-10, ReLU", default_recipe="seed-002",
                defaults={"sizes": (784, 512, 512, 10)}, reproduces="seed-002",
                published="85.3% after epoch 1, 90.2% after epoch 2")
class MLP(nn.Module):
    """Flatten, then Linear+ReLU for each hidden size, then a final Linear to the class logits."""

    def __init__(self, sizes: Sequence[int] = (784, 512, 512, 10), num_classes: int | None = None) -> None:
        super().__init__()
        if num_classes is not None:  # a class subset (e.g. --classes 0,1) replaces the output size
            sizes = (*sizes[:-1], num_classes)
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
