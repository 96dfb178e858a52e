"""An adapter for QuTrunk, the framework seed 000 ran on: each parameter row becomes a QuTrunk circuit.

QuTrunk 0.1.11 cannot be installed next to numpy 2 (see docs/hybrid.md for the recipe that works);
this module imports it only when the backend is used. QuTrunk runs one circuit at a time (its local
simulator re-runs the whole circuit for every shot), so this is the slowest backend by far: it exists
to check digitlab against the seed's own framework, not to train with.
"""

from __future__ import annotations

import json
import random

import numpy as np
import torch

from digitlab.errors import ModelError
from digitlab.quantum.circuits import Circuit
from digitlab.quantum.parameter_shift import ParameterShift
from digitlab.quantum.statevector import readout_matrix


def import_qutrunk():  # noqa: ANN201 - the module, when installed
    try:
        import qutrunk
        from qutrunk.circuit import QCircuit  # noqa: F401 - fails on a half-installed QuTrunk
    except Exception as e:  # a broken install raises more than ImportError (e.g. numpy ABI errors)
        raise ModelError(f"the qutrunk backend needs QuTrunk, which is not importable here ({e}); "
                         "see docs/hybrid.md for how to install it in a separate virtualenv") from None
    return qutrunk


def build_circuit(circuit: Circuit, row: np.ndarray, measure: bool):  # noqa: ANN201 - a QuTrunk QCircuit
    from qutrunk.circuit import QCircuit
    from qutrunk.circuit.gates import CNOT, CZ, H, Measure, Rx, Ry, Rz, X, Z

    gates = {"H": H, "X": X, "Z": Z, "CNOT": CNOT, "CZ": CZ, "RX": Rx, "RY": Ry, "RZ": Rz}
    qc = QCircuit()
    q = qc.allocate(circuit.qubits)
    for gate in circuit.gates:
        op = gates[gate.name] if gate.param is None else gates[gate.name](float(row[gate.param]))
        op * (q[gate.wires[0]] if len(gate.wires) == 1 else tuple(q[w] for w in gate.wires))
    if measure:
        for w in range(circuit.qubits):
            Measure * q[w]
    return qc


def qutrunk_frequencies(circuit: Circuit, row: np.ndarray, shots: int | None) -> np.ndarray:
    """Basis-state frequencies (2**qubits,), wire 0 the most significant bit; exact when ``shots`` is None."""
    n = circuit.qubits
    if shots is None:
        probs = np.asarray(build_circuit(circuit, row, measure=False).get_prob_all_outcome(list(range(n))))
        # QuTrunk indexes outcomes with qubit 0 as the least significant bit: reverse the bit order.
        index = np.arange(2 ** n)
        reversed_index = sum(((index >> w) & 1) << (n - 1 - w) for w in range(n))
        out = np.zeros(2 ** n)
        out[reversed_index] = probs
        return out
    counts = json.loads(build_circuit(circuit, row, measure=True).run(shots=shots).get_counts())
    out = np.zeros(2 ** n)
    for entry in counts:  # [{"01": 57}, {"10": 43}]: bit strings with qubit 0 first
        for bits, count in entry.items():
            out[int(bits, 2)] += count
    return out / shots


class QuTrunkBackend:
    """Readouts from QuTrunk circuits, one per parameter row; gradients by the parameter-shift rule."""

    def __init__(self, circuit: Circuit, shots: int | None = 100) -> None:
        import_qutrunk()
        self.circuit, self.shots = circuit, shots

    def estimate(self, params: torch.Tensor) -> torch.Tensor:
        # QuTrunk measures with Python's `random`; seeding it from torch's generator (seeded by the runner)
        # makes its shots reproducible.
        random.seed(int(torch.randint(2**31 - 1, ()).item()))
        rows = params.detach().cpu().double().numpy()
        freqs = np.stack([qutrunk_frequencies(self.circuit, row, self.shots) for row in rows])
        readout = readout_matrix(self.circuit, torch.float64).numpy()
        return torch.from_numpy(freqs @ readout).to(params.device, params.dtype)

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        return ParameterShift.apply(params, self.estimate)
