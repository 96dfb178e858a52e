"""The torch statevector simulator, the shots backend and the parameter-shift rule (no optional packages)."""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
import pytest
import torch

from digitlab.errors import ModelError
from digitlab.quantum import Circuit, Gate, QuantumLayer, entangling_circuit, make_backend, seed_circuit
from digitlab.quantum.parameter_shift import parameter_shift_jacobian
from digitlab.quantum.statevector import expectation, probabilities

ANGLES = torch.linspace(-3.0, 3.0, 13, dtype=torch.float64)


def every_gate_circuit() -> Circuit:
    """Three qubits, every supported gate, complex amplitudes: the circuit the backends are compared on."""
    g = Gate
    gates = (g("H", (0,)), g("RX", (1,), 0), g("RY", (2,), 1), g("CNOT", (0, 2)), g("RZ", (0,), 2), g("X", (1,)),
             g("CZ", (1, 0)), g("RY", (0,), 3), g("Z", (2,)), g("CNOT", (2, 1)), g("RX", (2,), 4), g("H", (1,)))
    return Circuit(3, gates, num_inputs=3, num_weights=2, readout="z")


def reference_probabilities(circuit: Circuit, row: np.ndarray) -> np.ndarray:
    """An independent simulator: full 2^n x 2^n matrices built with Kronecker products, in NumPy."""
    n = circuit.qubits
    one = {"H": np.array([[1, 1], [1, -1]]) / math.sqrt(2), "X": np.array([[0, 1], [1, 0]]),
           "Z": np.diag([1, -1])}
    proj = [np.diag([1, 0]), np.diag([0, 1])]

    def embed(ops: dict[int, np.ndarray]) -> np.ndarray:
        return reduce(np.kron, [ops.get(w, np.eye(2)) for w in range(n)])  # wire 0 most significant

    state = np.zeros(2 ** n, complex)
    state[0] = 1
    for gate in circuit.gates:
        if gate.name in ("CNOT", "CZ"):
            c, t = gate.wires
            flip = one["X"] if gate.name == "CNOT" else one["Z"]
            matrix = embed({c: proj[0]}) + embed({c: proj[1], t: flip})
        else:
            if gate.param is None:
                m = one[gate.name]
            else:
                a = row[gate.param]
                c, s = math.cos(a / 2), math.sin(a / 2)
                m = {"RX": np.array([[c, -1j * s], [-1j * s, c]]), "RY": np.array([[c, -s], [s, c]]),
                     "RZ": np.diag([np.exp(-1j * a / 2), np.exp(1j * a / 2)])}[gate.name]
            matrix = embed({gate.wires[0]: m})
        state = matrix @ state
    return np.abs(state) ** 2


def test_seed_circuit_is_simulated_gate_by_gate_and_matches_the_closed_form():
    theta = ANGLES[:, None].clone().requires_grad_()
    p = expectation(seed_circuit(), theta)[:, 0]
    assert torch.allclose(p, (1 + torch.sin(ANGLES)) / 2, atol=1e-12)
    p.sum().backward()
    assert torch.allclose(theta.grad[:, 0], torch.cos(ANGLES) / 2, atol=1e-12)


@pytest.mark.parametrize("circuit", [every_gate_circuit(), entangling_circuit(4, 2), entangling_circuit(2, 1)],
                         ids=["every-gate", "entangling-4x2", "entangling-2x1"])
def test_simulator_matches_an_independent_dense_matrix_simulation(circuit):
    params = torch.randn(5, circuit.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ours = probabilities(circuit, params).numpy()
    for row, p in zip(params.numpy(), ours, strict=True):
        assert np.allclose(p, reference_probabilities(circuit, row), atol=1e-12)
    # Readout <Z_w> = sum over basis states of P(s) * (+1 or -1 by wire w's bit).
    z = expectation(circuit, params) if circuit.readout == "z" else None
    if z is not None:
        bits = (np.arange(2 ** circuit.qubits)[:, None] >> (circuit.qubits - 1 - np.arange(circuit.qubits))) & 1
        assert np.allclose(z.numpy(), ours @ (1 - 2 * bits), atol=1e-12)


def test_parameter_shift_jacobian_equals_autograd_on_an_entangling_circuit():
    circuit = every_gate_circuit()
    params = torch.randn(4, circuit.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    shifted = parameter_shift_jacobian(lambda rows: expectation(circuit, rows), params)  # (B, P, K)
    auto = torch.autograd.functional.jacobian(lambda rows: expectation(circuit, rows).sum(0), params)  # (K, B, P)
    assert torch.allclose(shifted, auto.permute(1, 2, 0), atol=1e-10)


def test_shots_backend_estimates_p_and_its_gradient_within_statistical_bounds():
    shots, theta = 400, ANGLES.repeat(20)[:, None]  # 260 rows
    torch.manual_seed(0)
    params = theta.clone().requires_grad_()
    p_hat = make_backend("shots", seed_circuit(), shots)(params)[:, 0]
    p_hat.sum().backward()
    p = (1 + torch.sin(theta[:, 0])) / 2
    sigma = torch.sqrt(p * (1 - p) / shots).clamp_min(1e-3)
    assert ((p_hat - p).abs() <= 5 * sigma).all()
    assert abs(((p_hat - p) / sigma).mean()) < 5 / math.sqrt(len(p))  # unbiased: errors average out
    # Gradient (p(t + pi/2) - p(t - pi/2)) / 2 from two independent 400-shot estimates.
    p_plus, p_minus = (1 + torch.cos(theta[:, 0])) / 2, (1 - torch.cos(theta[:, 0])) / 2
    grad_sigma = torch.sqrt((p_plus * (1 - p_plus) + p_minus * (1 - p_minus)) / shots / 4).clamp_min(1e-3)
    assert ((params.grad[:, 0] - torch.cos(theta[:, 0]) / 2).abs() <= 5 * grad_sigma).all()


def test_shots_are_seeded_by_torch_and_differ_between_seeds():
    backend = make_backend("shots", entangling_circuit(3, 1), 50)
    params = torch.randn(8, 6)
    runs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        runs.append(backend(params))
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    values = runs[0] * 50  # <Z> = 1 - 2 * (ones / shots): whole counts
    assert torch.allclose(values, values.round(), atol=1e-4)


def test_quantum_layer_trains_its_circuit_weights_and_runs_float32_from_bfloat16():
    layer = QuantumLayer(entangling_circuit(3, 2))
    assert layer.weights.shape == (6,)
    out = layer(torch.randn(4, 3).to(torch.bfloat16))
    assert out.dtype == torch.float32 and out.shape == (4, 3) and (out.abs() <= 1 + 1e-6).all()
    layer(torch.randn(4, 3)).sum().backward()
    assert layer.weights.grad is not None and layer.weights.grad.abs().sum() > 0
    assert QuantumLayer(seed_circuit()).weights is None  # the seed's circuit has no weights of its own


def test_bad_circuits_and_backends_are_refused_with_clear_errors():
    with pytest.raises(ModelError, match="exactly one rotation"):
        Circuit(1, (Gate("RY", (0,), 0), Gate("RX", (0,), 0)), num_inputs=1)
    with pytest.raises(ModelError, match="outside"):
        Circuit(1, (Gate("H", (1,)),), num_inputs=0)
    with pytest.raises(ModelError, match="unknown gate"):
        Circuit(1, (Gate("T", (0,)),), num_inputs=0)
    with pytest.raises(ModelError, match="distinct"):
        Circuit(2, (Gate("CNOT", (1, 1)),), num_inputs=0)
    with pytest.raises(ModelError, match="takes no shots"):
        make_backend("exact", seed_circuit(), 100)
    with pytest.raises(ModelError, match="unknown quantum backend 'cirq'"):
        make_backend("cirq", seed_circuit())
    with pytest.raises(ModelError, match="shots must be"):
        make_backend("shots", seed_circuit(), 0)
