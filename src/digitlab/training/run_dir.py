"""A training run's directory, and the names of the files in it.

    config.json        the recipe, the run options, the data's checksums, the thread plan, digitlab's version
    metrics.jsonl      one line per epoch (the fit's history records)
    checkpoint.pt      torch models: weights, optimiser, schedule, RNGs, FitState (for --resume)
    checkpoint.safetensors   the NumPy network: weights, best weights; FitState and RNG in its metadata
    model.safetensors + model.json   the trained model (digitlab.inference.model files)
    report.md, report.json, curves.png, confusion.png, errors.png   the report (training/report.py)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from digitlab.errors import DigitlabError
from digitlab.utils.fileio import atomic_write_json, atomic_write_text

CONFIG = "config.json"
METRICS = "metrics.jsonl"
TORCH_CHECKPOINT = "checkpoint.pt"
NUMPY_CHECKPOINT = "checkpoint.safetensors"


class RunDir(os.PathLike):
    """The directory of one training run; ``RunDir(path) / "model.json"`` joins like a Path.

    >>> run = RunDir.new("cnn", root="runs")          # doctest: +SKIP
    >>> run.write_config({"recipe": ...}); run.holds_run()   # doctest: +SKIP
    True
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @classmethod
    def new(cls, name: str, root: str | os.PathLike = "runs") -> RunDir:
        """A fresh ``root/<date>-<time>-<name>`` (``-1``, ``-2``... when taken)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for i in range(1000):
            path = Path(root) / (f"{stamp}-{name}" + (f"-{i}" if i else ""))
            if not path.exists():
                return cls(path)
        raise DigitlabError(f"cannot find a free run directory under {root}")

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def holds_run(self) -> bool:
        return (self.path / CONFIG).exists()

    def checkpoint(self, family: str) -> Path:
        """The checkpoint file of a ``"torch"`` or ``"numpy"`` model."""
        return self.path / (NUMPY_CHECKPOINT if family == "numpy" else TORCH_CHECKPOINT)

    def write_config(self, config: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path / CONFIG, config)

    def read_config(self) -> dict[str, Any]:
        """config.json, or DigitlabError naming the directory if it is not a run's."""
        try:
            config = json.loads((self.path / CONFIG).read_text())
        except (OSError, ValueError) as e:
            raise DigitlabError(f"{self.path}: not a resumable run directory ({e})") from None
        if not isinstance(config, dict) or "recipe" not in config:
            raise DigitlabError(f"{self.path}: not a resumable run directory (config.json has no recipe)")
        return config

    def write_metrics(self, history: list[dict]) -> None:
        atomic_write_text(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in history))

    def read_metrics(self) -> list[dict]:
        path = self.path / METRICS
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
