"""The PennyLane backend agrees with the torch simulator (analytic) and with statistics (shots)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("pennylane", reason="PennyLane is not installed: pip install 'digitlab[quantum]'")

from tests.test_quantum import every_gate_circuit  # noqa: E402

from digitlab.quantum import entangling_circuit, make_backend, seed_circuit  # noqa: E402
from digitlab.quantum.statevector import expectation  # noqa: E402


def value_and_grad(backend, params):  # noqa: ANN001, ANN201
    params = params.clone().requires_grad_()
    out = backend(params)
    weights = torch.arange(1, out.shape[1] + 1, dtype=out.dtype)  # a readout mix: every output counts, apart
    (out * weights).sum().backward()
    return out.detach(), params.grad


@pytest.mark.parametrize("circuit", [seed_circuit(), every_gate_circuit(), entangling_circuit(3, 1)],
                         ids=["seed", "every-gate", "entangling-3x1"])
def test_analytic_pennylane_matches_exact_values_and_gradients(circuit):
    params = torch.randn(4, circuit.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    exact = value_and_grad(lambda rows: expectation(circuit, rows), params)
    backend = make_backend("pennylane", circuit)
    penny = value_and_grad(backend, params)
    assert torch.allclose(penny[0], exact[0], atol=1e-6)
    assert torch.allclose(penny[1], exact[1], atol=1e-6)
    with torch.no_grad():  # inference runs the batch as one broadcast tape: same values
        assert torch.allclose(backend(params), exact[0], atol=1e-6)


def test_pennylane_with_shots_is_within_statistical_bounds_and_seeded():
    shots, theta = 200, torch.linspace(-3, 3, 12, dtype=torch.float64)[:, None]
    torch.manual_seed(0)
    p_hat, grad = value_and_grad(make_backend("pennylane", seed_circuit(), shots), theta)
    p = (1 + torch.sin(theta[:, 0])) / 2
    counts = p_hat[:, 0].detach() * shots
    assert torch.allclose(counts, counts.round(), atol=1e-6) and not torch.allclose(p_hat[:, 0].detach(), p)  # sampled
    assert ((p_hat[:, 0] - p).abs() <= 5 * torch.sqrt(p * (1 - p) / shots).clamp_min(1e-3)).all()
    assert ((grad[:, 0] - torch.cos(theta[:, 0]) / 2).abs() <= 5 * (0.5 / shots) ** 0.5).all()
    torch.manual_seed(0)  # the QNode's device is seeded from torch's generator
    assert torch.equal(value_and_grad(make_backend("pennylane", seed_circuit(), shots), theta)[0], p_hat)
