"""One fit protocol for every registry model: ``fit(model, recipe, train, val, ...) -> FitState``.

A torch module goes to the engine (training/engine.py), the NumPy network to training/numpy_fit.py; both give
the same history records, stop at a ``Target``, keep the best epoch by validation, checkpoint each epoch into
the run directory and resume from it. Under torchrun (``dist``) torch modules train data-parallel; rank 0 reads
the checkpoint to resume from and hands it to the other ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from digitlab.data.datasets import Digits
from digitlab.errors import DigitlabError
from digitlab.training.recipes import Recipe
from digitlab.training.run_dir import RunDir
from digitlab.training.state import FitState, Target

if TYPE_CHECKING:
    from digitlab.training.distributed import Dist


def is_numpy_model(model: Any) -> bool:
    return not hasattr(model, "parameters")  # torch modules have parameters(); the NumPy network has arrays


def _existing(path: Any, resume: bool, load: Callable[[Any], dict]) -> dict | None:
    """The checkpoint to resume from; none when the run was killed before its first epoch ended."""
    return load(path) if resume and path is not None and path.exists() else None


def fit(model: Any, recipe: Recipe, train: Digits, val: Digits, *, device: str = "auto",
        run_dir: RunDir | None = None, resume: bool = False, target: Target | None = None, test: Digits | None = None,
        show_progress: bool = False, on_epoch: Callable[[dict], None] | None = None,
        plan: dict[str, int] | None = None, dist: Dist | None = None, sync_bn: bool = False) -> FitState:
    """Train ``model`` in place by ``recipe``; return its FitState.

    ``run_dir``: where each epoch's checkpoint goes; ``resume``: continue from the checkpoint there.
    ``target``: stop early once reached. ``plan``: the thread plan ({"train": n, "eval": m}); None: decide.
    ``dist``: this rank of a torchrun job (training/distributed.py ``Dist``); ``sync_bn``: SyncBatchNorm there.

    >>> state = fit(create_model("lenet-lite"), get_recipe("seed-001"), train, val)   # doctest: +SKIP
    >>> state.history[-1]["val_acc"]                                                   # doctest: +SKIP
    0.972
    """
    if is_numpy_model(model):
        if dist is not None:
            raise DigitlabError("the NumPy network trains in one process; torchrun and --nproc-per-node are for "
                                "torch models")
        from digitlab.training.numpy_fit import fit_numpy, load_numpy_checkpoint

        return fit_numpy(model, recipe, train, val, run_dir=run_dir, target=target, test=test,
                         show_progress=show_progress, on_epoch=on_epoch, plan=plan,
                         resume=_existing(run_dir and run_dir.checkpoint("numpy"), resume, load_numpy_checkpoint))
    from digitlab.training import engine
    from digitlab.training.distributed import shared

    checkpoint = shared(dist, lambda: _existing(run_dir and run_dir.checkpoint("torch"), resume,
                                                engine.load_checkpoint))
    return engine.fit(model, recipe, train, val, device=dist.device if dist else engine.pick_device(device),
                      run_dir=run_dir, target=target, test=test, show_progress=show_progress, on_epoch=on_epoch,
                      plan=plan, resume=checkpoint, dist=dist, sync_bn=sync_bn)
