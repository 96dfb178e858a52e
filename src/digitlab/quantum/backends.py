"""The four ways to run a circuit, chosen with ``--quantum-backend``; each maps parameter rows (B, P)
to readouts (B, K) and is differentiable with respect to the parameters.

- ``exact``: the statevector in torch, batched; exact gradients by autograd (CPU or GPU).
- ``shots``: seed 000's semantics: the readout estimated from ``shots`` measurements, the gradient by
  the parameter-shift rule evaluated with shots too.
- ``pennylane``: a PennyLane QNode, ``default.qubit``, parameter-shift; analytic or with shots.
- ``qutrunk``: the seed's own framework, when importable; shots (default) or analytic.
"""

from __future__ import annotations

import torch

from digitlab.errors import ModelError
from digitlab.quantum.circuits import Circuit
from digitlab.quantum.parameter_shift import ParameterShift
from digitlab.quantum.sampling import sampled_expectation
from digitlab.quantum.statevector import expectation

BACKENDS = ("exact", "shots", "pennylane", "qutrunk")
DEFAULT_SHOTS = 100  # the seed's


class ExactBackend:
    def __init__(self, circuit: Circuit) -> None:
        self.circuit = circuit

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        return expectation(self.circuit, params)


class ShotsBackend:
    def __init__(self, circuit: Circuit, shots: int) -> None:
        self.circuit, self.shots = circuit, shots

    def estimate(self, params: torch.Tensor) -> torch.Tensor:
        return sampled_expectation(self.circuit, params, self.shots)

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        return ParameterShift.apply(params, self.estimate)


def make_backend(name: str, circuit: Circuit, shots: int | None = None):  # noqa: ANN201 - a backend callable
    """The backend ``name`` for ``circuit``. ``shots=None`` means: the backend's default (``shots`` and
    ``qutrunk`` take 100 as the seed did; ``pennylane`` is analytic); ``exact`` takes no shots."""
    if shots is not None and shots < 1:
        raise ModelError(f"shots must be >= 1, got {shots}")
    if name == "exact":
        if shots is not None:
            raise ModelError("the exact backend is analytic and takes no shots; use --quantum-backend shots")
        return ExactBackend(circuit)
    if name == "shots":
        return ShotsBackend(circuit, shots or DEFAULT_SHOTS)
    if name == "pennylane":
        from digitlab.quantum.pennylane_backend import PennyLaneBackend

        return PennyLaneBackend(circuit, shots)
    if name == "qutrunk":
        from digitlab.quantum.qutrunk_backend import QuTrunkBackend

        return QuTrunkBackend(circuit, shots or DEFAULT_SHOTS)
    raise ModelError(f"unknown quantum backend {name!r}; choose {', '.join(BACKENDS)}")
