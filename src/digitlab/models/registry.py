"""The model registry: names -> constructors, imported lazily so the NumPy model never pulls in torch.

Like timm: ``create_model(name, **kwargs)`` builds one, ``MODELS`` is the table of what exists.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from digitlab.errors import ModelError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: str  # "module:Class", imported on first use
    family: str  # "torch" or "numpy"
    description: str
    default_recipe: str
    defaults: dict[str, Any] = field(default_factory=dict)
    reproduces: str | None = None  # seed id, if this model is a seed's network
    published: str | None = None  # the seed's published figure


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("scratch", "digitlab.models.scratch:ScratchNetwork", "numpy",
                  "NumPy from scratch: fully connected sigmoid net [784, 30, 10], quadratic cost", "seed-004",
                  {"sizes": (784, 30, 10)}, "seed-004", "> 96% test (~95% typical)"),
        ModelSpec("mlp-312", "digitlab.models.mlp:MLP", "torch", "MLP 784-312-256-10, ReLU", "seed-003",
                  {"sizes": (784, 312, 256, 10)}, "seed-003", "loss falls, accuracy rises (no figure)"),
        ModelSpec("mlp-bp", "digitlab.models.mlp:MLP", "torch", "MLP 784-512-256-10, ReLU (the book's BP net)",
                  "seed-003-bp", {"sizes": (784, 512, 256, 10)}, "seed-003", "loss falls, accuracy rises (no figure)"),
        ModelSpec("mlp-512", "digitlab.models.mlp:MLP", "torch", "MLP 784-512-512-10, ReLU", "seed-002",
                  {"sizes": (784, 512, 512, 10)}, "seed-002", "85.3% after epoch 1, 90.2% after epoch 2"),
        ModelSpec("lenet-lite", "digitlab.models.lenet:LeNetLite", "torch",
                  "small LeNet (4/8 channels, 32 hidden) for C++/FPGA deployment", "seed-001", {},
                  "seed-001", "97.26% test"),
        ModelSpec("cnn", "digitlab.models.cnn:FastCNN", "torch",
                  "fast modern CNN (BatchNorm, OneCycle): digitlab's default", "cnn", {}, None, None),
        ModelSpec("digitnet", "digitlab.models.digitnet:DigitNet", "torch",
                  "VGG-style CNN with BatchNorm: the shipped pretrained recognizer", "recognizer", {}, None, None),
        ModelSpec("hybrid-qnn", "digitlab.models.hybrid:HybridQNN", "torch",
                  "seed 000's hybrid net: small CNN -> one qubit (H, Ry(theta), measure) -> [p, 1-p]; two classes",
                  "hybrid-qnn", {"num_classes": 2}, "seed-000", "val 99.38% after epoch 0, 100% from epoch 2"),
        ModelSpec("hybrid-qnn-classical", "digitlab.models.hybrid:HybridQNN", "torch",
                  "ablation: hybrid-qnn with its qubit replaced by a classical 1->1 layer (sigmoid)", "hybrid-qnn",
                  {"num_classes": 2, "layer": "classical"}),
        ModelSpec("hybrid-qnn10", "digitlab.models.hybrid:HybridQNN10", "torch",
                  "10-class hybrid: seed CNN -> 8-qubit entangling circuit, <Z> per qubit -> linear head",
                  "hybrid-qnn10", {}),
        ModelSpec("hybrid-qnn10-classical", "digitlab.models.hybrid:HybridQNN10", "torch",
                  "ablation: hybrid-qnn10 with its circuit replaced by a classical 8->8 layer (tanh)", "hybrid-qnn10",
                  {"layer": "classical"}),
    )
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(MODELS)}") from None


def model_class(name: str) -> type:
    module, _, attr = get_spec(name).target.partition(":")
    return getattr(importlib.import_module(module), attr)


def create_model(name: str, **kwargs: Any) -> Any:
    """Build a registered model; keyword arguments override its defaults."""
    spec = get_spec(name)
    args = {**spec.defaults, **kwargs}
    try:
        return model_class(name)(**args)
    except TypeError as e:
        raise ModelError(f"bad arguments for model {name!r}: {e}") from None


def model_args(name: str, **kwargs: Any) -> dict[str, Any]:
    """The full constructor arguments (defaults + overrides), JSON-ready."""
    args = {**get_spec(name).defaults, **kwargs}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}
