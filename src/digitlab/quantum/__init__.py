"""Quantum circuits for hybrid models: one circuit description, four backends, one torch layer.

>>> from digitlab.quantum import QuantumLayer, seed_circuit      # doctest: +SKIP
>>> QuantumLayer(seed_circuit(), backend="shots", shots=100)(theta)  # (B, 1): p = P(bit = 1)  # doctest: +SKIP
"""

from digitlab.quantum.backends import BACKENDS, DEFAULT_SHOTS, make_backend
from digitlab.quantum.circuits import Circuit, Gate, entangling_circuit, seed_circuit
from digitlab.quantum.layer import QuantumLayer

__all__ = ["BACKENDS", "DEFAULT_SHOTS", "Circuit", "Gate", "QuantumLayer", "entangling_circuit", "make_backend",
           "seed_circuit"]
