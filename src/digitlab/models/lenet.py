"""Seed 001's small LeNet, sized for FPGA deployment: 4 and 8 channels, a 32-unit hidden layer."""

from __future__ import annotations

import torch
from torch import nn

from digitlab.models.registry import register_model


@register_model("lenet-lite", family="torch", default_recipe="seed-001",
                description="small LeNet (4/8 channels, 32 hidden) for C++/FPGA deployment",
                reproduces="seed-001", published="97.26% test")
class LeNetLite(nn.Module):
    """conv(1->4,3,p1) relu pool, conv(4->8,3,p1) relu pool, fc 392->32 relu, fc 32->10."""

    def __init__(self, channels: tuple[int, int] = (4, 8), hidden: int = 32, num_classes: int = 10) -> None:
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(), nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
