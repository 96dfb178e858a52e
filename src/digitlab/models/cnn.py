"""digitlab's default `cnn`: a small CNN that passes 99% MNIST test accuracy in one epoch, fast on a CPU.

Found by benchmarks/explorations/explore_fast_cnn.py against the fastest published one-epoch recipe we know
(digitlab/bench/baseline_fast_mnist.py). What buys the speed, measured on a 2-core CPU:

- conv1 has stride 2 instead of a full-resolution conv + max-pool: 1/4 of its cost and no pool over 24x24;
- BatchNorm only where it is cheap (after the pool, 5x5, and on the hidden layer): it lets lr 2e-2 train
  in one epoch, while BatchNorm on the 12x12 maps costs more time than it gives accuracy;
- label smoothing 0.1 (+0.1 point of test accuracy for free) pays for the narrower 16/16/64 widths.

channels_last memory format sped the pool and convolutions up on that CPU (mkldnn) in the exploration
(its ``channels_last=1`` option, benchmarks/explorations/); the training engine does not apply it, so
`digitlab train cnn` and `digitlab bench train` run the default (contiguous) format.

Its training recipe is the `cnn` recipe in digitlab/training/recipes.py (OneCycle Adam at lr 2e-2, betas
(0.7, 0.9), batch 256, one epoch, label smoothing 0.1, inputs normalised with the `mnist` preset); the
figure against the baseline is `digitlab bench train` (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from digitlab.models.registry import register_model


@register_model("cnn", family="torch", default_recipe="cnn",
                description="fast modern CNN (BatchNorm, OneCycle): digitlab's default")
class FastCNN(nn.Module):
    """conv(1->c1, 5, stride 2) relu, conv(c1->c2, 3) max-pool BN relu, fc c2*25->hidden BN relu, fc -> classes.

    Input (N, 1, 28, 28) normalised with the `mnist` preset (mean 0.1307, std 0.3081); output logits
    (N, num_classes).
    """

    def __init__(self, channels: Sequence[int] = (16, 16), hidden: int = 64, num_classes: int = 10) -> None:
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5, stride=2), nn.ReLU(inplace=True),  # 28 -> 12
            # No bias where BatchNorm follows: its shift makes one redundant.
            nn.Conv2d(c1, c2, 3, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c2), nn.ReLU(inplace=True),  # -> 5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c2 * 5 * 5, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

