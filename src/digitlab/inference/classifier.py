"""Trained models on disk: ``model.safetensors`` (weights only) + ``model.json`` (how to rebuild them).

``load_classifier`` rebuilds a model through the registry; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from digitlab import __version__
from digitlab.errors import ModelError
from digitlab.inference.inputs import as_unit_images
from digitlab.inference.normalization import Normalization
from digitlab.utils.fileio import atomic_write_bytes, atomic_write_json

FORMAT = "digitlab-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
META = "model.json"
PRETRAINED_DIR = Path(__file__).parent.parent / "pretrained"


class Classifier:
    """A trained digit classifier: ``predict_proba`` / ``predict`` / ``score`` on uint8 or float images."""

    def __init__(self, name: str, args: dict[str, Any], classes: tuple[str, ...],
                 normalization: Normalization | dict[str, Any] | str, meta: dict[str, Any] | None = None) -> None:
        self.name = name
        self.args = args
        self.classes = tuple(classes)
        self.normalization = Normalization.from_json(normalization)
        self.meta = dict(meta or {})

    def predict_proba(self, images: object) -> np.ndarray:
        """Class probabilities, (N, C) float32, for images (N, 28, 28) or (28, 28), uint8 or float in [0, 1].

        >>> model = digitlab.load("runs/cnn")              # doctest: +SKIP
        >>> model.predict_proba(digits).shape              # doctest: +SKIP
        (16, 10)
        """
        return self._proba(as_unit_images(images))

    def uncalibrated_proba(self, images: object) -> np.ndarray:
        """``predict_proba`` without model.json's calibration temperature: the network's own probabilities (digit
        segmentation's scorer was tuned on these). The same as ``predict_proba`` for an uncalibrated model."""
        x = as_unit_images(images)
        if not self.meta.get("calibration"):
            return self._proba(x)
        return softmax_unless_probs(self.logits(x), {k: v for k, v in self.meta.items() if k != "calibration"})

    def predict(self, images: object) -> np.ndarray:
        """Predicted class indices, int64 (N,)."""
        return self.predict_proba(images).argmax(axis=1).astype(np.int64)

    def score(self, images: object, labels: np.ndarray) -> float:
        """Accuracy on labelled images."""
        return float((self.predict(images) == np.asarray(labels)).mean())

    def _proba(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The network's raw scores (N, C) for float32 (N, 28, 28) images in [0, 1] (``as_unit_images``), before
        any calibration: their softmax is the uncalibrated probability (digitlab.inference.calibration)."""
        raise ModelError(f"{type(self).__name__} has no logits of its own")

    def state_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def save(self, directory: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
        """Write model.safetensors + model.json into ``directory`` (atomically, each file)."""
        from safetensors.numpy import save

        directory = Path(directory)
        atomic_write_bytes(directory / WEIGHTS, save({k: np.ascontiguousarray(v) for k, v in
                                                      self.state_arrays().items()}))
        # An "onnx" entry describes a model.onnx of the directory it was read from, not of this one.
        kept = {k: v for k, v in self.meta.items() if k != "onnx"}
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "digitlab_version": __version__,
                "model": self.name, "args": self.args, "classes": list(self.classes),
                "normalization": self.normalization.to_json(), **kept, **(extra or {})}
        self.meta = {k: v for k, v in meta.items() if k not in ("model", "args", "classes", "normalization")}
        atomic_write_json(directory / META, meta)
        return directory


def softmax_unless_probs(logits: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """Probabilities from a network's outputs (some heads already emit probabilities: meta says so), divided by
    the temperature of meta's ``calibration`` entry first where it has one (digitlab.inference.calibration)."""
    if meta.get("outputs") == "probs":
        return logits
    if meta.get("calibration"):
        from digitlab.inference.calibration import temperature_of

        logits = logits / np.float32(temperature_of(meta))
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


class NumpyClassifier(Classifier):
    """Wraps the from-scratch NumPy network (no torch involved)."""

    def __init__(self, network: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.network = network

    def _proba(self, x: np.ndarray) -> np.ndarray:
        probs = np.asarray(self.network.predict_proba(x), dtype=np.float32)
        if not self.meta.get("calibration"):
            return probs
        return softmax_unless_probs(self.logits(x, probs), self.meta)  # temperature on the log-probabilities

    def logits(self, x: np.ndarray, probs: np.ndarray | None = None) -> np.ndarray:
        """Log-probabilities (the network's outputs are probabilities; a softmax of these gives them back)."""
        probs = np.asarray(self.network.predict_proba(x), dtype=np.float32) if probs is None else probs
        return np.log(np.maximum(probs, np.float32(1e-30)))

    def state_arrays(self) -> dict[str, np.ndarray]:
        return dict(self.network.state_dict())


class TorchClassifier(Classifier):
    """Wraps a torch module; applies the training normalisation and batches inference.

    Each call runs on the intra-op threads digitlab.utils.threads chooses for its batch (one for small batches: on a
    busy machine, threads waiting for each other made single-image inference ~500x slower); ``threads`` (an int,
    "auto" or None) overrides that.
    """

    def __init__(self, module: Any, batch_size: int = 2048, threads: object = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.module = module.eval()
        self.batch_size = batch_size
        self.threads = threads
        self._macs: int | None = None

    @property
    def device(self) -> Any:
        return next(self.module.parameters()).device

    def threads_for(self, batch: int) -> int:
        """Intra-op threads for one call on ``batch`` images."""
        from digitlab.utils.threads import inference_threads, requested_threads, torch_macs

        if self.device.type != "cpu":  # the CPU only feeds the device
            return requested_threads(self.threads) or 1
        if self._macs is None:
            self._macs = torch_macs(self.module)
        return inference_threads(self._macs, min(batch, self.batch_size), self.threads)

    def logits(self, x: np.ndarray) -> np.ndarray:
        import torch

        from digitlab.utils.threads import torch_threads

        out = []
        with torch.inference_mode(), torch_threads(self.threads_for(len(x))):
            for i in range(0, len(x), self.batch_size):
                batch = torch.from_numpy(x[i:i + self.batch_size]).to(self.device).unsqueeze(1)
                out.append(self.module(self.normalization.apply(batch)).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.classes)), np.float32)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return softmax_unless_probs(self.logits(x), self.meta)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().contiguous().numpy() for k, v in self.module.state_dict().items()}


class EnsembleClassifier(Classifier):
    """Averages the probabilities of several classifiers trained alike (e.g. the shipped members)."""

    def __init__(self, members: list[Classifier]) -> None:
        first = members[0]
        super().__init__(f"ensemble({first.name} x{len(members)})", first.args, first.classes, first.normalization,
                         {"members": [m.meta.get("recipe") for m in members]})
        self.members = members

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return np.mean([m._proba(x) for m in self.members], axis=0)

    def uncalibrated_proba(self, images: object) -> np.ndarray:
        return np.mean([m.uncalibrated_proba(images) for m in self.members], axis=0)

    def state_arrays(self) -> dict[str, np.ndarray]:
        raise ModelError("an ensemble is saved as its members; save each one")


def load_ensemble(size: int, device: str = "cpu", runtime: str = "torch") -> Classifier:
    """The shipped recognizer and its extra members (``default``, ``default-s1``, ...), probabilities averaged."""
    names = ["default"] + sorted(p.name for p in PRETRAINED_DIR.glob("default-s*") if (p / META).exists())
    if not 1 <= size <= len(names):
        raise ModelError(f"--ensemble takes 1 to {len(names)} (the shipped members: {', '.join(names)}); got {size}")
    if size == 1:
        return load_classifier("default", device, runtime)
    return EnsembleClassifier([load_classifier(n, device, runtime) for n in names[:size]])


def wrap(model: Any, name: str, args: dict[str, Any], classes: tuple[str, ...], normalization: dict[str, Any],
         meta: dict[str, Any] | None = None) -> Classifier:
    """A Classifier around a freshly trained registry model."""
    from digitlab.models.registry import get_spec

    kw = dict(name=name, args=args, classes=classes, normalization=normalization, meta=meta)
    if get_spec(name).family == "numpy":
        return NumpyClassifier(model, **kw)
    return TorchClassifier(model, **kw)


def resolve_model_dir(path_or_name: str | os.PathLike) -> Path:
    """A model directory, a run directory (holding the model files), or a shipped name like ``default``."""
    path = Path(path_or_name)
    if not path.exists() and isinstance(path_or_name, str) and (PRETRAINED_DIR / path_or_name / META).exists():
        path = PRETRAINED_DIR / path_or_name
    if path.is_file() and path.name in (META, WEIGHTS):
        path = path.parent
    if not (path / META).is_file() or not (path / WEIGHTS).is_file():
        shipped = sorted(p.name for p in PRETRAINED_DIR.glob("*") if (p / META).exists())
        hint = f" (shipped models: {', '.join(shipped)})" if shipped else ""
        raise ModelError(f"{path_or_name}: not a model or run directory (needs {META} and {WEIGHTS}){hint}")
    return path


def load_classifier(path_or_name: str | os.PathLike, device: str = "cpu", runtime: str = "torch") -> Classifier:
    """Rebuild a saved model through the registry and load its weights (safetensors only).

    ``runtime``: "torch", or "auto": the model's own checked ``model.onnx`` in ONNX Runtime where it has one and
    onnxruntime is installed (on the CPU; no torch import), torch otherwise.
    """
    from digitlab.models.registry import create_model, get_spec

    if runtime not in ("torch", "auto"):
        raise ModelError(f"runtime must be torch or auto; got {runtime!r}")
    directory = resolve_model_dir(path_or_name)
    try:
        meta = json.loads((directory / META).read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{directory / META}: unreadable ({e})") from None
    if meta.get("format") != FORMAT:
        raise ModelError(f"{directory / META}: not a digitlab model (format {meta.get('format')!r})")
    if runtime == "auto" and device == "cpu":
        from digitlab.inference.onnx_runtime import load_onnx_file

        if (fast := load_onnx_file(directory, meta)) is not None:
            return fast
    name, args = meta["model"], meta.get("args", {})
    spec = get_spec(name)
    try:
        from safetensors.numpy import load_file

        arrays = load_file(str(directory / WEIGHTS))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ModelError(f"{directory / WEIGHTS}: unreadable weights ({e})") from None
    model = create_model(name, **args)
    kw = dict(name=name, args=args, classes=tuple(meta["classes"]), normalization=meta["normalization"],
              meta={k: v for k, v in meta.items() if k not in ("model", "args", "classes", "normalization")})
    if spec.family == "numpy":
        model.load_state_dict(arrays)
        return NumpyClassifier(model, **kw)
    import torch

    try:
        model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=True)
    except RuntimeError as e:
        raise ModelError(f"{directory / WEIGHTS}: weights do not fit model {name!r}: {e}") from None
    return TorchClassifier(model.to(device), **kw)
