"""The shipped recognizer's network: a VGG-style CNN with BatchNorm, wide enough for ~99.7% with augmentation."""

from __future__ import annotations

import torch
from torch import nn

from digitlab.models.registry import register_model


def conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


@register_model("digitnet", family="torch", default_recipe="recognizer",
                description="VGG-style CNN with BatchNorm: the shipped pretrained recognizer")
class DigitNet(nn.Module):
    """Two conv-conv-pool stages (28 -> 14 -> 7), a third conv, global average pool, dropout, linear head."""

    def __init__(self, width: int = 32, dropout: float = 0.25, num_classes: int = 10) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *conv_bn(1, w), *conv_bn(w, w), nn.MaxPool2d(2),
            *conv_bn(w, 2 * w), *conv_bn(2 * w, 2 * w), nn.MaxPool2d(2),
            *conv_bn(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * w, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
