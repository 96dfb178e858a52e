"""A batched statevector simulator in plain torch: differentiable by autograd, on CPU or GPU.

The state of ``n`` qubits for a batch of ``B`` samples is a tensor (B, 2, ..., 2) with one axis per wire;
flattened, wire 0 is the most significant bit (PennyLane's convention). Each gate is a small tensor
contraction on its wire(s), so every sample of the batch runs its own angles in one operation.
"""

from __future__ import annotations

import functools
import math

import torch

from digitlab.quantum.circuits import Circuit, Gate

SQRT_HALF = 1.0 / math.sqrt(2.0)


def _fixed_matrix(name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    rows = {"H": [[SQRT_HALF, SQRT_HALF], [SQRT_HALF, -SQRT_HALF]], "X": [[0.0, 1.0], [1.0, 0.0]],
            "Z": [[1.0, 0.0], [0.0, -1.0]]}[name]
    return torch.tensor(rows, dtype=dtype, device=device)


def _rotation_matrix(name: str, theta: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, 2, 2) matrices of RX/RY/RZ(theta) for a batch of angles."""
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    if name == "RY":
        m = torch.stack((torch.stack((c, -s), -1), torch.stack((s, c), -1)), -2)
        return m.to(dtype)
    zero = torch.zeros_like(c)
    if name == "RX":  # [[c, -i s], [-i s, c]]
        return torch.complex(torch.stack((torch.stack((c, zero), -1), torch.stack((zero, c), -1)), -2),
                             torch.stack((torch.stack((zero, -s), -1), torch.stack((-s, zero), -1)), -2)).to(dtype)
    # RZ: diag(exp(-i theta/2), exp(i theta/2))
    return torch.complex(torch.stack((torch.stack((c, zero), -1), torch.stack((zero, c), -1)), -2),
                         torch.stack((torch.stack((-s, zero), -1), torch.stack((zero, s), -1)), -2)).to(dtype)


def _apply_one(state: torch.Tensor, matrix: torch.Tensor, wire: int) -> torch.Tensor:
    """new_i = m_i0 * s_0 + m_i1 * s_1 on the wire's axis, as broadcast products: a batched 2x2 matmul
    (bmm) on a strided view is two orders of magnitude slower for these shapes."""
    axis = wire + 1
    s0, s1 = state.select(axis, 0), state.select(axis, 1)  # (B, other wires...)
    if matrix.ndim == 3:  # one matrix per sample
        matrix = matrix.reshape(matrix.shape[:3] + (1,) * (state.ndim - 2))
        m = [[matrix[:, i, j] for j in range(2)] for i in range(2)]
    else:
        m = [[matrix[i, j] for j in range(2)] for i in range(2)]
    return torch.stack((m[0][0] * s0 + m[0][1] * s1, m[1][0] * s0 + m[1][1] * s1), axis)


def _apply_controlled(state: torch.Tensor, name: str, control: int, target: int) -> torch.Tensor:
    s = state.movedim((control + 1, target + 1), (1, 2))  # (B, control, target, ...)
    on = s[:, 1]
    on = on.flip(1) if name == "CNOT" else torch.stack((on[:, 0], -on[:, 1]), 1)  # CZ flips the |11> sign
    return torch.stack((s[:, 0], on), 1).movedim((1, 2), (control + 1, target + 1))


def apply_gate(state: torch.Tensor, gate: Gate, params: torch.Tensor) -> torch.Tensor:
    if gate.name in ("CNOT", "CZ"):
        return _apply_controlled(state, gate.name, *gate.wires)
    if gate.param is None:
        matrix = _fixed_matrix(gate.name, state.real.dtype, state.device).to(state.dtype)
    else:
        matrix = _rotation_matrix(gate.name, params[:, gate.param], state.dtype)
    return _apply_one(state, matrix, gate.wires[0])


def simulate(circuit: Circuit, params: torch.Tensor) -> torch.Tensor:
    """Final statevectors (B, 2**qubits) for parameter rows (B, num_params), starting from |0...0>."""
    if params.ndim != 2 or params.shape[1] != circuit.num_params:
        raise ValueError(f"expected parameters of shape (B, {circuit.num_params}), got {tuple(params.shape)}")
    dtype = params.dtype
    if not circuit.is_real:
        dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    state = torch.zeros((len(params),) + (2,) * circuit.qubits, dtype=dtype, device=params.device)
    state[(slice(None),) + (0,) * circuit.qubits] = 1.0
    for gate in circuit.gates:
        state = apply_gate(state, gate, params)
    return state.reshape(len(params), -1)


def probabilities(circuit: Circuit, params: torch.Tensor) -> torch.Tensor:
    """Born-rule probabilities (B, 2**qubits) of every computational basis state."""
    state = simulate(circuit, params)
    return state.abs().square() if state.is_complex() else state.square()


@functools.lru_cache(maxsize=64)  # built once per circuit, dtype and device, not on every forward pass
def readout_matrix(circuit: Circuit, dtype: torch.dtype = torch.float32,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """(2**qubits, num_outputs): the readout as a linear function of the basis-state probabilities.

    Cached and shared: treat the result as read-only."""
    n = circuit.qubits
    index = torch.arange(2 ** n, device=device)
    bits = torch.stack([(index >> (n - 1 - w)) & 1 for w in range(n)], 1).to(dtype)  # (2**n, n)
    return bits[:, :1] if circuit.readout == "p1" else 1 - 2 * bits


def expectation(circuit: Circuit, params: torch.Tensor) -> torch.Tensor:
    """The exact readout (B, num_outputs): P(wire 0 = 1), or <Z> of every wire."""
    probs = probabilities(circuit, params)
    return probs @ readout_matrix(circuit, probs.dtype, probs.device)
