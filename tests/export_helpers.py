"""A small trained model for the export tests, in seconds rather than a full recipe run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitlab.inference.classifier import wrap

_TRAINED: dict[tuple, Path] = {}  # one training per model per test session, shared by the test files


def trained_model_dir(name: str, normalization: tuple[str, float, float], mnist, tmp_path_factory) -> Path:
    """The directory of ``name`` trained by ``train_quickly``, trained on first use in this session."""
    key = (name, normalization)
    if key not in _TRAINED:
        _TRAINED[key] = train_quickly(name, normalization, mnist, tmp_path_factory.mktemp(name))
    return _TRAINED[key]


def train_quickly(name: str, normalization: tuple[str, float, float], mnist, directory: Path, n: int = 10000):
    """One pass of Adam over the first ``n`` training images; saved and reloaded like any digitlab model."""
    import torch

    from digitlab.models.registry import create_model, model_args

    torch.manual_seed(0)
    norm_name, mean, std = normalization
    module = create_model(name)
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    x = (torch.from_numpy(np.array(mnist.train_full.images[:n])).float().unsqueeze(1) / 255.0 - mean) / std
    y = torch.from_numpy(mnist.train_full.labels[:n])
    for i in range(0, n, 64):
        loss = torch.nn.functional.cross_entropy(module(x[i:i + 64]), y[i:i + 64])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    classifier = wrap(module.eval(), name, model_args(name), mnist.classes,
                      {"name": norm_name, "mean": mean, "std": std}, {"data": {"dataset": "mnist"}})
    classifier.save(directory)
    return directory
