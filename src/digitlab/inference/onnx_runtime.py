"""Classifiers run by ONNX Runtime: exported from torch in memory, or read from a model's own ``model.onnx``.

On a small CPU, ONNX Runtime runs the shipped CNN several times faster than eager torch at the batch
sizes a service sees (fused conv+BN+ReLU kernels, no per-op dispatch); see docs/benchmarks.md.

A model directory may carry ``model.onnx`` beside its weights (``attach_onnx``; the shipped models do):
model.json then records the sha256 of the weights it was exported from, and ``load_onnx_file`` uses it only
while they still match. Reading that file needs onnxruntime and numpy only, so `digitlab predict` answers
without importing torch (about 1 s less at start-up). The graph ends at the logits: a calibration temperature in
model.json divides them after it, as in torch, so calibrating a model (model.json only) leaves model.onnx valid.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.errors import ModelError
from digitlab.export.onnx_export import session
from digitlab.inference.classifier import META, WEIGHTS, Classifier, TorchClassifier, softmax_unless_probs
from digitlab.inference.normalization import Normalization
from digitlab.utils.fileio import atomic_write_bytes, atomic_write_json

AGREEMENT_TOLERANCE = 1e-4  # largest probability difference from torch on the check images
ONNX_FILE = "model.onnx"


class OnnxRuntimeClassifier(Classifier):
    """A model run by an ONNX Runtime CPU session (float pixels in [0, 1], normalisation inside the graph)."""

    def __init__(self, session: Any, name: str, args: dict[str, Any], classes: tuple[str, ...],
                 normalization: Normalization | dict[str, Any], meta: dict[str, Any] | None = None,
                 weights: Path | None = None) -> None:
        super().__init__(name, args, classes, normalization, meta)
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.weights = weights  # the safetensors file it came from, so that save() can copy the weights

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The graph's outputs (logits: the graph has no softmax, so calibration divides them before it)."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x[:, None], dtype=np.float32)})[0]

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return softmax_unless_probs(self.logits(x), self.meta)

    def state_arrays(self) -> dict[str, np.ndarray]:
        if self.weights is None:
            raise ModelError("this ONNX Runtime model has no weights file to save; save the torch model")
        from safetensors.numpy import load_file

        return load_file(str(self.weights))


def to_onnx_runtime(model: Classifier, threads: int = 1, check: np.ndarray | None = None) -> OnnxRuntimeClassifier:
    """Export ``model`` to ONNX in memory and load it in ONNX Runtime, after checking both agree.

    ``check``: uint8 (N, 28, 28) images on which every probability must agree within
    ``AGREEMENT_TOLERANCE`` (default: a fixed random batch). Raises ModelError if it cannot be done.
    """
    from digitlab.export.onnx_export import onnx_bytes

    if not isinstance(model, TorchClassifier):
        raise ModelError(f"only torch models run in ONNX Runtime (got {type(model).__name__})")
    fast = OnnxRuntimeClassifier(session(onnx_bytes(model), threads), model.name, model.args, model.classes,
                                 model.normalization, model.meta)
    _check_agreement(fast, model, check)
    return fast


def _check_agreement(fast: Classifier, model: Classifier, check: np.ndarray | None) -> float:
    if check is None:
        check = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    gap = float(np.abs(fast.predict_proba(check) - model.predict_proba(check)).max())
    if not gap <= AGREEMENT_TOLERANCE:
        raise ModelError(f"ONNX Runtime disagrees with torch by {gap:.2g} (tolerance {AGREEMENT_TOLERANCE})")
    return gap


def weights_sha256(directory: Path) -> str:
    return hashlib.sha256((directory / WEIGHTS).read_bytes()).hexdigest()


def attach_onnx(directory: Path, check: np.ndarray | None = None) -> Path:
    """Export the torch model in ``directory`` to ``model.onnx`` beside its weights, checked, and record it.

    ``check``: uint8 (N, 28, 28) images on which ONNX Runtime must agree with torch (default: a random batch).
    """
    from digitlab.export.onnx_export import check_onnx, onnx_bytes
    from digitlab.inference.classifier import load_classifier, resolve_model_dir

    directory = resolve_model_dir(directory)
    model = load_classifier(directory, runtime="torch")
    if not isinstance(model, TorchClassifier):
        raise ModelError(f"{directory}: only torch models have an ONNX form")
    data = onnx_bytes(model)
    check_onnx(data, str(directory / ONNX_FILE))
    fast = OnnxRuntimeClassifier(session(data, 1), model.name, model.args, model.classes, model.normalization,
                                 model.meta)
    gap = _check_agreement(fast, model, check)
    atomic_write_bytes(directory / ONNX_FILE, data)
    meta = json.loads((directory / META).read_text())
    meta["onnx"] = {"file": ONNX_FILE, "weights_sha256": weights_sha256(directory), "max_prob_diff": gap}
    atomic_write_json(directory / META, meta)
    return directory / ONNX_FILE


def load_onnx_file(directory: Path, meta: dict[str, Any], threads: int | None = None) -> OnnxRuntimeClassifier | None:
    """The model's own ``model.onnx`` in ONNX Runtime, or None where there is none, it is stale (the weights
    changed since it was exported), or onnxruntime is not installed.

    ``threads``: intra-op threads; None: an explicit choice (digitlab.utils.threads) or one, since a call reads a few
    28x28 digits and a second thread only waits for the first."""
    entry = meta.get("onnx")
    if not entry or not (directory / entry["file"]).is_file() or weights_sha256(directory) != entry["weights_sha256"]:
        return None
    try:
        import onnxruntime  # noqa: F401 - only to know whether it is there
    except ImportError:
        return None
    from digitlab.utils.threads import requested_threads

    threads = threads or requested_threads() or 1
    rest = {k: v for k, v in meta.items() if k not in ("model", "args", "classes", "normalization")}
    return OnnxRuntimeClassifier(session(directory / entry["file"], threads), meta["model"], meta.get("args", {}),
                                 tuple(meta["classes"]), meta["normalization"], rest, weights=directory / WEIGHTS)
