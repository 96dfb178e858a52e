"""Circuits as plain data: a list of gates and a readout, run by any backend.

One description serves all four backends (torch statevector, shots, PennyLane, QuTrunk), so they run
the same circuit by construction. Angles come from one parameter row per sample: the first
``num_inputs`` entries are the sample's encoded features, the rest the circuit's trainable weights.
Every parameter drives exactly one rotation, which is what makes the two-term parameter-shift rule
(shift pi/2) exact for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from digitlab.errors import ModelError

FIXED_GATES = ("H", "X", "Z", "CNOT", "CZ")
ROTATIONS = ("RX", "RY", "RZ")
TWO_QUBIT_GATES = ("CNOT", "CZ")
ENTANGLER = "CZ"
READOUTS = ("p1", "z")  # p1: probability that wire 0 is measured as 1; z: <Z> of every wire


@dataclass(frozen=True)
class Gate:
    name: str
    wires: tuple[int, ...]
    param: int | None = None  # column of the parameter row that sets the angle (rotations only)


@dataclass(frozen=True)
class Circuit:
    qubits: int
    gates: tuple[Gate, ...]
    num_inputs: int
    num_weights: int = 0
    readout: str = "p1"

    def __post_init__(self) -> None:
        used = []
        for gate in self.gates:
            if gate.name not in FIXED_GATES + ROTATIONS:
                raise ModelError(f"unknown gate {gate.name!r}")
            arity = 2 if gate.name in TWO_QUBIT_GATES else 1
            if len(gate.wires) != arity or len(set(gate.wires)) != arity:
                raise ModelError(f"gate {gate.name} needs {arity} distinct wire(s), got {gate.wires}")
            if not all(0 <= w < self.qubits for w in gate.wires):
                raise ModelError(f"gate {gate.name} on wires {gate.wires} outside 0..{self.qubits - 1}")
            if (gate.name in ROTATIONS) != (gate.param is not None):
                raise ModelError(f"gate {gate.name}: rotations take one parameter, fixed gates none")
            if gate.param is not None:
                used.append(gate.param)
        if sorted(used) != list(range(self.num_params)):
            raise ModelError("each parameter must drive exactly one rotation (parameter-shift needs it)")
        if self.readout not in READOUTS:
            raise ModelError(f"unknown readout {self.readout!r}; choose {', '.join(READOUTS)}")

    @property
    def num_params(self) -> int:
        return self.num_inputs + self.num_weights

    @property
    def num_outputs(self) -> int:
        return 1 if self.readout == "p1" else self.qubits

    @property
    def is_real(self) -> bool:
        """Whether every amplitude stays real (no RX/RZ), so the simulator can skip complex numbers."""
        return all(g.name not in ("RX", "RZ") for g in self.gates)


def seed_circuit() -> Circuit:
    """Seed 000's circuit: H, Ry(theta), measure; read out p = P(bit = 1) = (1 + sin theta) / 2."""
    return Circuit(qubits=1, gates=(Gate("H", (0,)), Gate("RY", (0,), 0)), num_inputs=1, readout="p1")


def entangling_circuit(qubits: int, layers: int) -> Circuit:
    """Angle encoding H, Ry(x_i) on every qubit, then ``layers`` of (CZ ring, trainable Ry per qubit); <Z_i> out.

    Both choices keep the layer trainable from a fresh start. The encoding is the seed's (H before Ry):
    <Z> = -sin(x) is steepest at x = 0, where a freshly initialised linear layer puts the angles (Ry
    alone gives cos(x), flat there). CZ commutes with Z, so each <Z_i> keeps a term linear in its own
    feature next to the entangled ones; a CNOT ring turns every Z into a parity, a product of sines
    of small angles, and trained far slower (docs/hybrid.md). Real amplitudes throughout (H, Ry, CZ).
    """
    if qubits < 1 or layers < 0:
        raise ModelError(f"need qubits >= 1 and layers >= 0, got {qubits} and {layers}")
    gates = [g for q in range(qubits) for g in (Gate("H", (q,)), Gate("RY", (q,), q))]
    param = qubits
    for _ in range(layers):
        if qubits > 1:
            ring = range(qubits) if qubits > 2 else range(1)  # two qubits: one CNOT, not a pair that cancels
            gates += [Gate(ENTANGLER, (q, (q + 1) % qubits)) for q in ring]
        for q in range(qubits):
            gates.append(Gate("RY", (q,), param))
            param += 1
    return Circuit(qubits, tuple(gates), num_inputs=qubits, num_weights=qubits * layers, readout="z")
