"""A torch classifier turned into an ONNX Runtime one, checked against the original before it is used.

On a small CPU, ONNX Runtime runs the shipped CNN several times faster than eager torch at the batch
sizes a service sees (fused conv+BN+ReLU kernels, no per-op dispatch); see docs/benchmarks.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from digitlab.artifacts import Classifier, TorchClassifier, softmax_unless_probs
from digitlab.errors import ModelError
from digitlab.export.onnx_export import onnx_bytes, session

AGREEMENT_TOLERANCE = 1e-4  # largest probability difference from torch on the check images


class OnnxRuntimeClassifier(Classifier):
    """The same model run by an ONNX Runtime CPU session (float pixels in [0, 1], normalisation inside)."""

    def __init__(self, session: Any, source: Classifier) -> None:
        super().__init__(source.name, source.args, source.classes, source.normalization, source.meta)
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def _proba(self, x: np.ndarray) -> np.ndarray:
        logits = self.session.run(None, {self.input_name: np.ascontiguousarray(x[:, None], dtype=np.float32)})[0]
        return softmax_unless_probs(logits, self.meta)


def to_onnx_runtime(model: Classifier, threads: int = 1, check: np.ndarray | None = None) -> OnnxRuntimeClassifier:
    """Export ``model`` to ONNX in memory and load it in ONNX Runtime, after checking both agree.

    ``check``: uint8 (N, 28, 28) images on which every probability must agree within
    ``AGREEMENT_TOLERANCE`` (default: a fixed random batch). Raises ModelError if it cannot be done.
    """
    if not isinstance(model, TorchClassifier):
        raise ModelError(f"only torch models run in ONNX Runtime (got {type(model).__name__})")
    fast = OnnxRuntimeClassifier(session(onnx_bytes(model), threads), model)
    if check is None:
        check = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    gap = float(np.abs(fast.predict_proba(check) - model.predict_proba(check)).max())
    if not gap <= AGREEMENT_TOLERANCE:
        raise ModelError(f"ONNX Runtime disagrees with torch by {gap:.2g} (tolerance {AGREEMENT_TOLERANCE})")
    return fast
