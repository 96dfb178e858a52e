"""Hybrid quantum-classical networks: seed 000's two-class model, a 10-class model, and their classical twins.

Seed 000 (QuTrunk): conv(1->6,5) pool conv(6->16,5) pool dropout2d fc 256->64 fc 64->1, then one qubit
(H, Ry(theta), measure) whose probability p of reading 1 gives the output [p, 1 - p]. ``outputs="probs"``
keeps exactly that (the seed fed it to NLLLoss); ``"log-probs"`` emits [log p, log(1 - p)] for a
correct log-likelihood (cross-entropy): their softmax is exactly [p, 1 - p].

``layer="classical"`` swaps the quantum layer for a classical one of the same input and output size,
everything else equal: the ablation that says what the circuit adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from digitlab.errors import ModelError
from digitlab.models.registry import register_model
from digitlab.quantum import QuantumLayer, entangling_circuit, seed_circuit

OUTPUTS = ("probs", "log-probs")
LAYERS = ("quantum", "classical")
PROB_FLOOR = 1e-6  # p is squeezed into [floor, 1 - floor]: shot estimates hit 0 and 1 exactly, log(0) = -inf


class SeedBody(nn.Module):
    """Seed 000's classical feature extractor, up to its 64-unit hidden layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.dropout = nn.Dropout2d()
        self.fc1 = nn.Linear(256, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc1(self.dropout(x).flatten(1)))


def _check_layer(layer: str, backend: str, shots: int | None) -> None:
    if layer not in LAYERS:
        raise ModelError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
    if layer == "classical" and (backend != "exact" or shots is not None):
        raise ModelError("the classical twin has no quantum layer: --quantum-backend and --shots do not apply")


class ClassicalProbability(nn.Module):
    """The seed's quantum layer's classical twin: one angle in, one probability out (sigmoid(a theta + b))."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(theta))


@register_model("hybrid-qnn", family="torch", default_recipe="hybrid-qnn",
                description="seed 000's hybrid net: small CNN -> one qubit (H, Ry(theta), measure) -> [p, 1-p]; "
                            "two classes",
                defaults={"num_classes": 2}, reproduces="seed-000",
                published="val 99.38% after epoch 0, 100% from epoch 2")
@register_model("hybrid-qnn-classical", family="torch", default_recipe="hybrid-qnn",
                description="ablation: hybrid-qnn with its qubit replaced by a classical 1->1 layer (sigmoid)",
                defaults={"num_classes": 2, "layer": "classical"})
class HybridQNN(nn.Module):
    """Seed 000's network: a small CNN feeding one angle into a one-qubit circuit; two classes."""

    def __init__(self, backend: str = "exact", shots: int | None = None, num_classes: int = 2,
                 outputs: str = "log-probs", layer: str = "quantum") -> None:
        super().__init__()
        if num_classes != 2:
            raise ModelError(f"hybrid-qnn separates two classes (its output is [p, 1 - p]), not {num_classes}; "
                             "use hybrid-qnn10 for ten")
        if outputs not in OUTPUTS:
            raise ModelError(f"outputs must be one of {', '.join(OUTPUTS)}, got {outputs!r}")
        _check_layer(layer, backend, shots)
        self.outputs = outputs
        self.body = SeedBody()
        self.fc2 = nn.Linear(64, 1)
        self.head = QuantumLayer(seed_circuit(), backend, shots) if layer == "quantum" else ClassicalProbability()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.head(self.fc2(self.body(x)))  # (B, 1)
        if self.outputs == "probs":
            return torch.cat((p, 1 - p), 1)
        p = PROB_FLOOR + (1 - 2 * PROB_FLOOR) * p  # affine, not a clamp: the gradient survives at 0 and 1
        return torch.cat((torch.log(p), torch.log1p(-p)), 1)

    @staticmethod
    def report_plots(history: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return convergence_plots(history)


@register_model("hybrid-qnn10", family="torch", default_recipe="hybrid-qnn10",
                description="10-class hybrid: seed CNN -> 8-qubit entangling circuit, <Z> per qubit -> linear head")
@register_model("hybrid-qnn10-classical", family="torch", default_recipe="hybrid-qnn10",
                description="ablation: hybrid-qnn10 with its circuit replaced by a classical 8->8 layer (tanh)",
                defaults={"layer": "classical"})
class HybridQNN10(nn.Module):
    """Ten classes with the quantum layer in the path: the seed's CNN, fc 64 -> qubits angles, an entangling
    circuit (angle encoding, ``layers`` x (CZ ring, trainable Ry)), <Z> of every qubit, linear head."""

    def __init__(self, backend: str = "exact", shots: int | None = None, num_classes: int = 10, qubits: int = 8,
                 layers: int = 2, layer: str = "quantum") -> None:
        super().__init__()
        _check_layer(layer, backend, shots)
        self.body = SeedBody()
        self.angles = nn.Linear(64, qubits)
        if layer == "quantum":
            self.mix = QuantumLayer(entangling_circuit(qubits, layers), backend, shots)
        else:  # same size in and out, and bounded like <Z> in [-1, 1]
            self.mix = nn.Sequential(nn.Linear(qubits, qubits), nn.Tanh())
        self.classifier = nn.Linear(qubits, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.mix(self.angles(self.body(x))))

    @staticmethod
    def report_plots(history: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return convergence_plots(history)


def convergence_plots(history: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The seed's loss plot, "Hybrid NN Training Convergence", for a run's report (extra_plots)."""
    if not history:
        return {}
    from matplotlib.ticker import MaxNLocator

    from digitlab.metrics.plots import plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot([r["epoch"] for r in history], [r["train_loss"] for r in history], marker="o", markersize=3)
    ax.set_title("Hybrid NN Training Convergence")
    ax.set_xlabel("Training Iterations (epochs)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return {"Hybrid NN Training Convergence": fig}
