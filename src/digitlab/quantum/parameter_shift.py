"""Expectations estimated by a black box, differentiated by the parameter-shift rule.

For a rotation exp(-i theta P / 2) (P a Pauli word), an expectation f obeys exactly
df/dtheta = [f(theta + pi/2) - f(theta - pi/2)] / 2. A backend that can only *run* circuits (sampling
shots, or a foreign simulator such as QuTrunk) thus gets gradients from 2 extra runs per parameter.
Here all the shifted runs of a batch go to the estimator as one (2 * B * P, P) batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

SHIFT = math.pi / 2

Estimator = Callable[[torch.Tensor], torch.Tensor]  # parameter rows (N, P) -> readouts (N, K), no autograd


def shifted_rows(params: torch.Tensor, shift: float = SHIFT) -> torch.Tensor:
    """(2, B, P, P) rows: [sign][sample][which parameter is shifted] -> the shifted parameter row."""
    eye = torch.eye(params.shape[1], dtype=params.dtype, device=params.device) * shift
    rows = params[:, None, :]
    return torch.stack((rows + eye, rows - eye))


def parameter_shift_jacobian(estimator: Estimator, params: torch.Tensor, shift: float = SHIFT) -> torch.Tensor:
    """(B, P, K): d readout_k / d param_p for every sample, from 2 * P estimator runs per sample."""
    b, p = params.shape
    values = estimator(shifted_rows(params, shift).reshape(-1, p)).reshape(2, b, p, -1)
    return (values[0] - values[1]) / (2 * math.sin(shift))


class ParameterShift(torch.autograd.Function):
    """``ParameterShift.apply(params, estimator)``: the estimator's readout, with parameter-shift gradients."""

    @staticmethod
    def forward(ctx, params: torch.Tensor, estimator: Estimator) -> torch.Tensor:  # type: ignore[override]
        ctx.estimator = estimator
        ctx.save_for_backward(params)
        with torch.no_grad():
            return estimator(params.detach()).to(params.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, None]:  # type: ignore[override]
        (params,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        with torch.no_grad():
            jacobian = parameter_shift_jacobian(ctx.estimator, params).to(grad_output.dtype)
        return torch.einsum("bpk,bk->bp", jacobian, grad_output), None
