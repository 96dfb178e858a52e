"""The QuTrunk adapter (the seed's own framework) agrees with the torch simulator.

QuTrunk 0.1.11 cannot share a virtualenv with numpy 2, so these tests run in CI through
`make test-qutrunk`, which builds a throw-away virtualenv (mk/quantum.mk); elsewhere they skip.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("qutrunk", reason="QuTrunk is not importable in this environment (it needs numpy<2): "
                                      "`make test-qutrunk` runs these tests in a throw-away virtualenv")

from tests.test_quantum import every_gate_circuit  # noqa: E402

from digitlab.quantum import QuantumLayer, make_backend, seed_circuit  # noqa: E402
from digitlab.quantum.qutrunk_backend import QuTrunkBackend  # noqa: E402
from digitlab.quantum.statevector import expectation  # noqa: E402


@pytest.mark.parametrize("circuit", [seed_circuit(), every_gate_circuit()], ids=["seed", "every-gate"])
def test_analytic_qutrunk_matches_exact_values_and_parameter_shift_gradients(circuit):
    params = torch.randn(3, circuit.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    backend = QuTrunkBackend(circuit, shots=None)
    exact = params.clone().requires_grad_()
    expectation(circuit, exact).sum().backward()
    ours = params.clone().requires_grad_()
    out = backend(ours)
    out.sum().backward()
    assert torch.allclose(out, expectation(circuit, params), atol=1e-6)
    assert torch.allclose(ours.grad, exact.grad, atol=1e-6)


def test_qutrunk_shots_are_within_statistical_bounds_and_seeded():
    shots, theta = 100, torch.linspace(-3, 3, 10, dtype=torch.float64)[:, None]
    torch.manual_seed(0)
    params = theta.clone().requires_grad_()
    p_hat = make_backend("qutrunk", seed_circuit(), shots)(params)[:, 0]
    p_hat.sum().backward()
    p = (1 + torch.sin(theta[:, 0])) / 2
    counts = p_hat.detach() * shots
    assert torch.allclose(counts, counts.round(), atol=1e-6) and not torch.allclose(p_hat.detach(), p)  # sampled
    assert ((p_hat - p).abs() <= 5 * torch.sqrt(p * (1 - p) / shots).clamp_min(1e-2)).all()
    assert ((params.grad[:, 0] - torch.cos(theta[:, 0]) / 2).abs() <= 5 * (0.5 / shots) ** 0.5).all()
    torch.manual_seed(0)
    assert torch.equal(make_backend("qutrunk", seed_circuit(), shots)(theta)[:, 0], p_hat.detach())


def test_qutrunk_layer_gives_gradients_to_the_network_before_it():
    linear = torch.nn.Linear(3, 1)
    layer = QuantumLayer(seed_circuit(), backend="qutrunk", shots=100)
    layer(linear(torch.randn(4, 3))).sum().backward()
    assert linear.weight.grad is not None and linear.weight.grad.abs().sum() > 0
