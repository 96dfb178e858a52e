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
