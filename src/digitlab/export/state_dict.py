"""``state-dict``: the seed's ``torch.save(model.state_dict())`` file, and its safe import.

Importing never unpickles arbitrary objects: ``torch.load(weights_only=True)`` refuses anything that is
not tensors and plain containers, and we then require a flat mapping of names to tensors.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.errors import ModelError
from digitlab.utils.fileio import atomic_write_bytes


def export_state_dict(model: Any, path: Path) -> Path:
    """Write the module's state_dict exactly as ``torch.save(model.state_dict(), path)`` would."""
    import torch

    buffer = io.BytesIO()
    torch.save(model.module.state_dict(), buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_state_dict_file(path: str | os.PathLike) -> dict[str, Any]:
    """A flat {name: tensor} mapping from a .pt file, loaded with ``weights_only=True``; anything else is refused."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower():  # weights_only refused a class or a callable: not a plain state_dict
            first = str(e).strip().splitlines()[0]
            raise ModelError(f"{path}: refused; only a plain state_dict of tensors can be imported ({first})") from None
        raise ModelError(f"{path}: not a readable torch file ({e})") from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        raise ModelError(f"{path}: not a readable torch file ({e})") from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]  # the common {"state_dict": ..., "epoch": ...} checkpoint layout
    if not isinstance(obj, Mapping) or not obj:
        raise ModelError(f"{path}: expected a state_dict (a mapping of names to tensors), got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelError(f"{path}: entry {bad[0]!r} is not a named tensor; expected a plain state_dict")
    return dict(obj)


def match_state_dict(loaded: dict[str, Any], target: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Fit ``loaded`` to the module's own keys: by name if they match, else by position when every shape agrees.

    The positional rule lets a seed's own class (``conv1.weight``, ``fc1.weight``, ...) load into the registry
    model whose layers are named differently but come in the same order. Returns (state_dict, by_position).
    """
    stripped = {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in loaded.items()}
    if set(stripped) == set(target):
        return stripped, False
    if len(stripped) == len(target) and all(a.shape == b.shape for a, b in zip(stripped.values(), target.values(),
                                                                               strict=True)):
        return dict(zip(target, stripped.values(), strict=True)), True
    missing = sorted(set(target) - set(stripped))[:3]
    unexpected = sorted(set(stripped) - set(target))[:3]
    raise ModelError(f"state_dict does not fit: {len(stripped)} tensors for a model of {len(target)}; "
                     f"missing {missing}, unexpected {unexpected}")


def import_state_dict(path: str | os.PathLike, model_name: str, out: str | os.PathLike, *,
                      normalization: str = "none", args: dict[str, Any] | None = None,
                      classes: tuple[str, ...] | None = None) -> Path:
    """Build ``model_name`` from the registry, load the .pt state_dict into it, save it as a digitlab model.

    ``normalization`` is the preset the weights were trained with (none, mnist or symmetric).
    """
    import torch

    from digitlab.inference.classifier import wrap
    from digitlab.inference.normalization import Normalization
    from digitlab.models.registry import create_model, get_spec, model_args

    if get_spec(model_name).family != "torch":
        raise ModelError(f"model {model_name!r} is not a torch model")
    norm = Normalization.named(normalization)
    module = create_model(model_name, **(args or {}))
    state, by_position = match_state_dict(load_state_dict_file(path), module.state_dict())
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelError(f"{path}: weights do not fit model {model_name!r}: {e}") from None
    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and not np.isfinite(tensor.numpy()).all():
            raise ModelError(f"{path}: tensor {name!r} holds NaN or infinite values")
    with torch.no_grad():
        n_out = module.eval()(torch.zeros(1, 1, 28, 28)).shape[1]
    classes = tuple(classes) if classes else tuple(str(i) for i in range(n_out))
    classifier = wrap(module.eval(), model_name, model_args(model_name, **(args or {})), classes, norm,
                      {"imported_from": Path(path).name, "imported_by_position": by_position})
    return classifier.save(out)


def run_state_dict(path: Path, images: np.ndarray, model: Any) -> np.ndarray:
    """Load the file into a fresh registry model (weights_only) and run it: the state-dict's own round trip."""
    import torch

    from digitlab.models.registry import create_model

    module = create_model(model.name, **model.args)
    module.load_state_dict(load_state_dict_file(path), strict=True)
    module.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), 1000):
            out.append(module(model.normalization.apply(torch.from_numpy(np.array(images[i:i + 1000])).unsqueeze(1))))
    return torch.cat(out).numpy()
