"""An integer-only version of a sequential conv/linear net: what the C export computes, and its NumPy twin.

Arithmetic (the TFLite scheme, kept simple enough for an HLS tool):
- input: ``x = 16 * pixel - Z`` with ``Z = round(16 * 255 * mean)``; the normalisation is folded into the
  scale ``1 / (16 * 255 * std)``, and padding with 0 is padding with the normalised zero, as in PyTorch;
- weights: int8, symmetric, one scale per output channel (one per tensor for the logits layer);
- biases: int32 at the accumulator's scale; accumulation in int32 (bounds checked at export);
- each hidden layer: ReLU, then requantise to 0..act_max with a fixed-point multiplier ``m * 2**-shift``
  (``m`` in [2**30, 2**31)), rounding half up; max-pooling works on those integers directly;
- output: the int32 accumulators of the last layer; real logits are ``logit_scale`` times them.

``integer_logits`` replays the same integer arithmetic in NumPy; the C program must agree with it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitlab.errors import ModelError

INPUT_GAIN = 16  # input levels per pixel level: the folded mean costs at most 1/32 of a pixel level
WEIGHT_MAX = 127
INT32_MAX = 2**31 - 1
CALIBRATION_IMAGES = 2000


@dataclass
class Conv:
    weight: np.ndarray  # int8 (co, ci, k, k)
    bias: np.ndarray  # int32 (co,)
    mult: np.ndarray  # int32 (co,)
    shift: np.ndarray  # int32 (co,)
    pad: int
    in_shape: tuple[int, int, int]  # (ci, h, w)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        co, _, k, _ = self.weight.shape
        _, h, w = self.in_shape
        return co, h + 2 * self.pad - k + 1, w + 2 * self.pad - k + 1


@dataclass
class Pool:
    in_shape: tuple[int, int, int]

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c, h, w = self.in_shape
        return c, h // 2, w // 2


@dataclass
class Dense:
    weight: np.ndarray  # int8 (n_out, n_in)
    bias: np.ndarray  # int32 (n_out,)
    mult: np.ndarray | None = None  # None: the logits layer (no ReLU, no requantisation)
    shift: np.ndarray | None = None

    @property
    def out_shape(self) -> tuple[int]:
        return (self.weight.shape[0],)


@dataclass
class IntegerNet:
    input_zero: int
    act_max: int
    logit_scale: float
    layers: list[Conv | Pool | Dense] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return int(self.layers[-1].weight.shape[0])  # type: ignore[union-attr]


def leaf_layers(module: Any) -> list[Any]:
    """The module's leaves in definition order, checked to compute the same function when run in sequence."""
    import torch
    from torch import nn

    leaves = [m for m in module.modules() if not list(m.children()) and not isinstance(m, (nn.Dropout,
                                                                                            nn.Identity))]
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = x
        try:
            for leaf in leaves:
                y = leaf(y)
            same = y.shape == module(x).shape and torch.allclose(y, module(x), atol=1e-5)
        except RuntimeError:
            same = False
    if not same:
        raise ModelError("the C export takes sequential conv/ReLU/max-pool/linear networks (lenet-lite, the "
                         "MLPs); this model's forward is not its layers in order")
    return leaves


def _multiplier(real: float) -> tuple[int, int]:
    """(m, shift) with m * 2**-shift == real to 31 significant bits, m in [2**30, 2**31)."""
    fraction, exponent = np.frexp(real)
    m, shift = int(round(fraction * 2**31)), 31 - int(exponent)
    if m == 2**31:
        m, shift = m // 2, shift - 1
    if not 1 <= shift <= 62:
        raise ModelError(f"requantisation factor {real:g} is out of the fixed-point range")
    return m, shift


def _weights(weight: np.ndarray, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights and their scales (one per output channel, or one repeated)."""
    flat = np.abs(weight.reshape(len(weight), -1)).max(axis=1).astype(np.float64)
    if not per_channel:
        flat = np.full_like(flat, flat.max())
    scale = np.where(flat > 0, flat / WEIGHT_MAX, 1.0)
    q = np.round(weight / scale.reshape(-1, *([1] * (weight.ndim - 1))))
    return np.clip(q, -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8), scale


def _int32(values: np.ndarray, what: str) -> np.ndarray:
    if np.abs(values).max(initial=0) > INT32_MAX:
        raise ModelError(f"{what} does not fit in int32")
    return values.astype(np.int32)


def quantize(model: Any, calibration: np.ndarray, act_bits: int = 8) -> IntegerNet:
    """The IntegerNet for a TorchClassifier whose module is a sequential conv/linear net.

    ``calibration``: uint8 training images; each hidden layer's scale is its largest activation on them.
    """
    import torch
    from torch import nn

    module = model.module.cpu().eval()
    mean, std = model.normalization.mean, model.normalization.std
    leaves = leaf_layers(module)
    x = model.normalization.apply(torch.from_numpy(np.array(calibration)).unsqueeze(1))
    act_max = 2**act_bits - 1
    net = IntegerNet(input_zero=int(round(INPUT_GAIN * 255 * mean)), act_max=act_max, logit_scale=0.0)
    in_scale = 1.0 / (INPUT_GAIN * 255 * std)
    in_max = INPUT_GAIN * 255 + abs(net.input_zero)  # the largest |input| an integer layer can see
    shape: tuple[int, ...] = (1, 28, 28)
    i = 0
    while i < len(leaves):
        layer = leaves[i]
        nxt = leaves[i + 1] if i + 1 < len(leaves) else None
        with torch.no_grad():
            x = layer(x)
        if isinstance(layer, nn.Flatten):
            shape = (int(np.prod(shape)),)
        elif isinstance(layer, nn.MaxPool2d):
            if _pair(layer.kernel_size) != (2, 2) or _pair(layer.stride) != (2, 2) or _pair(layer.padding) != (0, 0) \
                    or _pair(layer.dilation) != (1, 1) or layer.ceil_mode:
                raise ModelError("the C export takes MaxPool2d(2) only")
            net.layers.append(Pool(shape))  # type: ignore[arg-type]
            shape = net.layers[-1].out_shape
        elif isinstance(layer, (nn.Conv2d, nn.Linear)):
            last = nxt is None
            if not last and not isinstance(nxt, nn.ReLU):
                raise ModelError(f"the C export needs a ReLU after every hidden layer; {layer} is followed by {nxt}")
            if isinstance(layer, nn.Conv2d) and (_pair(layer.stride) != (1, 1) or layer.groups != 1
                                                 or _pair(layer.dilation) != (1, 1) or layer.padding_mode != "zeros"
                                                 or len(set(_pair(layer.padding))) != 1
                                                 or len(set(layer.kernel_size)) != 1):
                raise ModelError(f"the C export takes square stride-1 convolutions only, not {layer}")
            if isinstance(layer, nn.Conv2d) and last:
                raise ModelError("the C export needs a Linear layer last")
            weight = layer.weight.detach().double().numpy()
            bias = layer.bias.detach().double().numpy() if layer.bias is not None else np.zeros(len(weight))
            wq, wscale = _weights(weight, per_channel=not last)
            acc_scale = in_scale * wscale
            bq = _int32(np.round(bias / acc_scale), f"{layer} bias")
            worst = np.abs(wq.reshape(len(wq), -1).astype(np.int64)).sum(axis=1) * in_max + np.abs(bq)
            _int32(worst, f"{layer} accumulator (worst case)")
            if last:
                net.layers.append(Dense(wq, bq))
                net.logit_scale = float(acc_scale[0])
            else:
                with torch.no_grad():
                    activations = nxt(x)  # type: ignore[misc]
                out_scale = max(float(activations.max()), 1e-8) / act_max
                pairs = [_multiplier(s / out_scale) for s in acc_scale]
                mult = np.array([p[0] for p in pairs], np.int32)
                shifts = np.array([p[1] for p in pairs], np.int32)
                if isinstance(layer, nn.Conv2d):
                    net.layers.append(Conv(wq, bq, mult, shifts, int(_pair(layer.padding)[0]), shape))  # type: ignore
                else:
                    net.layers.append(Dense(wq, bq, mult, shifts))
                shape = net.layers[-1].out_shape
                in_scale, in_max = out_scale, act_max
                x, i = activations, i + 1  # the ReLU is fused into the requantisation
        elif not isinstance(layer, nn.ReLU):
            raise ModelError(f"the C export does not support {type(layer).__name__} layers")
        i += 1
    if not net.layers or not isinstance(net.layers[-1], Dense) or net.layers[-1].mult is not None:
        raise ModelError("the C export needs a Linear layer last")
    return net


def _pair(value: Any) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)  # type: ignore[return-value]


def _requantize(acc: Any, mult: Any, shift: Any, act_max: int) -> Any:
    """ReLU + fixed-point rescale, exactly as the C kernel: zero for acc <= 0, else round half up, clamp."""
    positive = acc.clamp(min=0).to(torch_int64())
    return ((positive * mult + (1 << (shift - 1))) >> shift).clamp(max=act_max)


def integer_logits(net: IntegerNet, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """int32 logits (N, C) for uint8 images (N, 28, 28), by the C program's integer arithmetic.

    Sums run in float64, which is exact here: every partial sum stays below the int32 bound checked at export,
    far below 2**53. Rescaling runs in int64, as in C.
    """
    return np.concatenate([_forward(net, images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
                          or [np.zeros((0, net.num_classes), np.int32)])


def torch_int64() -> Any:
    import torch

    return torch.int64


def _forward(net: IntegerNet, images: np.ndarray) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    x = INPUT_GAIN * torch.from_numpy(np.array(images, dtype=np.int64)).unsqueeze(1) - net.input_zero
    for layer in net.layers:
        if isinstance(layer, Conv):
            acc = F.conv2d(x.double(), torch.from_numpy(layer.weight).double(), torch.from_numpy(layer.bias).double(),
                           padding=layer.pad)
            x = _requantize(acc, torch.from_numpy(layer.mult).long()[:, None, None],
                            torch.from_numpy(layer.shift).long()[:, None, None], net.act_max)
        elif isinstance(layer, Pool):
            x = F.max_pool2d(x.double(), 2).long()
        else:
            acc = F.linear(x.flatten(1).double(), torch.from_numpy(layer.weight).double(),
                           torch.from_numpy(layer.bias).double())
            x = acc.long() if layer.mult is None else _requantize(acc, torch.from_numpy(layer.mult).long(),
                                                                   torch.from_numpy(layer.shift).long(), net.act_max)
    return x.numpy().astype(np.int32)
