"""A circuit as a torch layer: encoded angles (B, num_inputs) in, readouts (B, num_outputs) out."""

from __future__ import annotations

import math

import torch
from torch import nn

from digitlab.quantum.backends import make_backend
from digitlab.quantum.circuits import Circuit


class QuantumLayer(nn.Module):
    """Runs ``circuit`` on the chosen backend; the circuit's trainable rotation angles are a parameter."""

    def __init__(self, circuit: Circuit, backend: str = "exact", shots: int | None = None) -> None:
        super().__init__()
        self.circuit = circuit
        self.backend_name = backend
        self.backend = make_backend(backend, circuit, shots)
        weights = torch.empty(circuit.num_weights).uniform_(-math.pi, math.pi)
        self.weights = nn.Parameter(weights) if circuit.num_weights else None

    def forward(self, angles: torch.Tensor) -> torch.Tensor:
        # Simulated amplitudes want float32 or better: never bfloat16 under the engine's CUDA autocast.
        with torch.autocast(angles.device.type, enabled=False):
            angles = angles.float() if angles.dtype in (torch.float16, torch.bfloat16) else angles
            if self.weights is not None:
                angles = torch.cat((angles, self.weights.to(angles.dtype).expand(len(angles), -1)), 1)
            return self.backend(angles)

    def extra_repr(self) -> str:
        c = self.circuit
        return f"qubits={c.qubits}, gates={len(c.gates)}, weights={c.num_weights}, backend={self.backend_name}"
