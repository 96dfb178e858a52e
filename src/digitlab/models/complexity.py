"""Parameters and multiply-accumulates per image, for the model table."""

from __future__ import annotations

from typing import Any


def torch_complexity(model: Any, input_shape: tuple[int, ...] = (1, 1, 28, 28)) -> tuple[int, int]:
    """(parameters, MACs per image) of a torch module, counting Conv2d and Linear layers via a forward pass."""
    import torch
    from torch import nn

    macs = 0

    def count(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            macs += output[0].numel() * k
        elif isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return params, macs


def dense_complexity(sizes: list[int] | tuple[int, ...]) -> tuple[int, int]:
    """(parameters, MACs) of a fully connected network with these layer sizes."""
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    return sum(a * b + b for a, b in pairs), sum(a * b for a, b in pairs)
