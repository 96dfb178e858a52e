"""The circuit as a PennyLane QNode (``default.qubit``, ``diff_method="parameter-shift"``) for torch.

PennyLane is the field's standard library for hybrid quantum ML; this backend is the reference the
others are checked against, not the fast path. Its parameter-shift transform cannot differentiate a
broadcast (batched) parameter, so when gradients are wanted ``broadcast_expand`` splits each batch
into one tape per sample; inference runs the whole batch as one broadcast tape.
"""

from __future__ import annotations

import torch

from digitlab.quantum.circuits import Circuit


def import_pennylane():  # noqa: ANN201 - the module, when installed
    from digitlab.utils.extras import require

    return require("pennylane", "quantum", "the pennylane backend")


def make_qnode(circuit: Circuit, shots: int | None = None, seed: int | None = None):  # noqa: ANN201
    """A torch-interface QNode mapping parameter rows (B, P) to readouts (broadcast over B); analytic when
    ``shots`` is None."""
    qml = import_pennylane()
    gate_ops = {"H": qml.Hadamard, "X": qml.PauliX, "Z": qml.PauliZ, "CNOT": qml.CNOT, "CZ": qml.CZ,
                "RX": qml.RX, "RY": qml.RY, "RZ": qml.RZ}
    device = qml.device("default.qubit", wires=circuit.qubits, seed=seed)

    def run(params):  # noqa: ANN001, ANN202 - PennyLane traces this function
        for gate in circuit.gates:
            op = gate_ops[gate.name]
            if gate.param is None:
                op(wires=list(gate.wires))
            else:
                op(params[..., gate.param], wires=gate.wires[0])
        if circuit.readout == "p1":
            return qml.probs(wires=0)
        return [qml.expval(qml.PauliZ(w)) for w in range(circuit.qubits)]

    qnode = qml.QNode(run, device, interface="torch", diff_method="parameter-shift")
    return qml.set_shots(qnode, shots=shots) if shots is not None else qnode


class PennyLaneBackend:
    """Readouts (B, K) from the QNode; gradients by PennyLane's own parameter-shift rule."""

    def __init__(self, circuit: Circuit, shots: int | None = None) -> None:
        self.circuit = circuit
        # Seeded from torch's generator, which the runner seeds with the recipe's seed.
        seed = int(torch.randint(2**31 - 1, ()).item()) if shots is not None else None
        self.qnode = make_qnode(circuit, shots, seed)
        self.qnode_per_sample = import_pennylane().transforms.broadcast_expand(self.qnode)

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        differentiable = torch.is_grad_enabled() and params.requires_grad
        qnode = self.qnode_per_sample if differentiable else self.qnode
        out = qnode(params.cpu().double())  # differentiable casts: gradients flow back to params
        if self.circuit.readout == "p1":
            out = out[..., 1:]
        else:
            out = torch.stack(list(out), -1)
        return out.reshape(len(params), -1).to(params.device, params.dtype)
