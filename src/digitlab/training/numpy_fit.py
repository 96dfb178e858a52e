"""The NumPy network's side of the fit protocol: the same loop, records, early stop, model selection and resume
as the torch engine (training/engine.py), around ``ScratchNetwork.fit`` one epoch at a time.

Its checkpoint is a safetensors file (weights and best weights) whose metadata holds the FitState and the
network's random generator by name, so nothing is ever unpickled on --resume.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.data.datasets import Digits
from digitlab.errors import DigitlabError
from digitlab.training.recipes import Recipe
from digitlab.training.run_dir import RunDir
from digitlab.training.state import FitState, Target
from digitlab.utils.fileio import atomic_write_bytes


def fit_numpy(net: Any, recipe: Recipe, train: Digits, val: Digits, *, run_dir: RunDir | None = None,
              target: Target | None = None, test: Digits | None = None, show_progress: bool = False,
              on_epoch: Callable[[dict], None] | None = None, resume: dict[str, Any] | None = None,
              plan: dict[str, int] | None = None) -> FitState:
    """Train the NumPy ``net`` by ``recipe`` (mini-batch SGD); return the state. ``net`` ends holding the best
    epoch's weights (by validation accuracy), as a torch model does after ``engine.fit``.

    >>> state = fit_numpy(create_model("scratch"), get_recipe("seed-004"), train, val)   # doctest: +SKIP
    >>> state.best_val_acc                                                                 # doctest: +SKIP
    0.951
    """
    if target is not None and target.split == "test" and test is None:
        raise DigitlabError("--target-split test needs the test split")
    plan = plan or net.thread_plan(recipe.batch_size)
    state = FitState()
    if resume is not None:
        net.load_state_dict(resume["model"])
        net._rng.bit_generator.state = resume["rng"]
        state = FitState.from_dict(resume["fit_state"])
        state.best_state = resume["best_state"]
    while not state.done(recipe.epochs):
        [record] = net.fit(train, val, epochs=1, batch_size=recipe.batch_size, lr=recipe.lr, plan=plan)
        if not np.isfinite(record["train_loss"]):
            raise DigitlabError(f"training diverged at epoch {state.epoch + 1} (loss {record['train_loss']}); "
                                "lower --lr")
        state.close_epoch(record, snapshot=net.state_dict, target=target,
                          target_accuracy=lambda: net.score(test.images, test.labels))
        if run_dir is not None:  # the checkpoint first: metrics.jsonl never runs ahead of what --resume restores
            save_numpy_checkpoint(run_dir.checkpoint("numpy"), net, state)
            run_dir.write_metrics(state.history)
        if show_progress:
            from digitlab.utils.console import err

            err.print(f"epoch {record['epoch']}/{recipe.epochs}  loss {record['train_loss']:.4f}  "
                      f"acc {record['train_acc']:.2%}  val acc {record['val_acc']:.2%}  ({record['seconds']:.1f} s)")
        if on_epoch is not None:
            on_epoch(record)
    if state.best_state is not None:
        net.load_state_dict(state.best_state)
    state.threads = dict(plan)
    return state


def save_numpy_checkpoint(path: Path, net: Any, state: FitState) -> None:
    from safetensors.numpy import save

    arrays = {f"model/{k}": v for k, v in net.state_dict().items()}
    arrays.update({f"best/{k}": np.asarray(v) for k, v in (state.best_state or {}).items()})
    metadata = {"fit_state": json.dumps(state.to_dict(weights=False)), "rng": json.dumps(net._rng.bit_generator.state)}
    atomic_write_bytes(path, save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=metadata))


def load_numpy_checkpoint(path: Path) -> dict[str, Any]:
    """{"model", "best_state", "fit_state", "rng"} from ``save_numpy_checkpoint``'s file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
        fit_state, rng = json.loads(metadata["fit_state"]), json.loads(metadata["rng"])
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise DigitlabError(f"{path}: unreadable checkpoint ({e})") from None
    part = {prefix: {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(prefix + "/")}
            for prefix in ("model", "best")}
    return {"model": part["model"], "best_state": part["best"] or None, "fit_state": fit_state, "rng": rng}
