"""Finite-shot estimates: measure the simulated state ``shots`` times and average, as hardware would."""

from __future__ import annotations

import torch

from digitlab.quantum.circuits import Circuit
from digitlab.quantum.statevector import probabilities, readout_matrix


def sample_frequencies(probs: torch.Tensor, shots: int) -> torch.Tensor:
    """(N, S) basis-state frequencies from ``shots`` measurements per row of ``probs`` (N, S).

    Draws from torch's global generator (the device's), which the runner seeds with the recipe's seed
    and the training checkpoint saves, so shot noise is reproducible and survives --resume on CPU.
    """
    probs = probs.detach().float().clamp_min(0)
    outcomes = torch.multinomial(probs, shots, replacement=True)  # (N, shots) basis-state indices
    counts = torch.zeros_like(probs).scatter_add_(1, outcomes, torch.ones_like(outcomes, dtype=probs.dtype))
    return counts / shots


def sampled_expectation(circuit: Circuit, params: torch.Tensor, shots: int) -> torch.Tensor:
    """The readout (N, num_outputs) estimated from ``shots`` measurements of each parameter row."""
    with torch.no_grad():
        freqs = sample_frequencies(probabilities(circuit, params.detach()), shots)
        return (freqs @ readout_matrix(circuit, freqs.dtype, freqs.device)).to(params.dtype)
