"""What a fit has done so far (``FitState``) and when it may stop early (``Target``): shared by the torch engine
and the NumPy fit, saved by name in their checkpoints so that a field added later cannot shift the others."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from digitlab.errors import DigitlabError


@dataclass(frozen=True)
class Target:
    """Stop once ``split``'s accuracy reaches ``accuracy`` (``time_to_target_s`` records when)."""

    accuracy: float
    split: str = "val"  # "val", or "test" for speed benchmarks only (never for model selection)

    def __post_init__(self) -> None:
        if self.split not in ("val", "test"):
            raise DigitlabError(f"--target-split must be val or test, not {self.split!r}")
        if not 0 < self.accuracy <= 1:
            raise DigitlabError(f"--target-acc must be a fraction in (0, 1], e.g. 0.99; got {self.accuracy}")


@dataclass
class FitState:
    """Everything a resumed fit needs besides the recipe, the data and the model's own training state.

    ``history`` holds one record per epoch, the same keys for every model: epoch, train_loss, train_acc,
    val_loss, val_acc, seconds (the training pass alone), plus lr (torch) and ``<split>_acc_for_target``.
    """

    epoch: int = 0  # epochs completed
    history: list[dict] = field(default_factory=list)
    best_val_acc: float = -1.0
    best_epoch: int = 0
    best_state: dict[str, Any] | None = None  # the best epoch's weights (tensors or arrays, by name)
    train_seconds: float = 0.0
    time_to_target_s: float | None = None
    threads: dict[str, int] = field(default_factory=dict)  # the thread plan this (last) session ran on

    def done(self, epochs: int) -> bool:
        """Whether the fit is over: all ``epochs`` run, or the target reached."""
        return self.epoch >= epochs or self.time_to_target_s is not None

    def close_epoch(self, record: dict, *, snapshot: Callable[[], dict[str, Any]], target: Target | None = None,
                    target_accuracy: Callable[[], float] | None = None) -> None:
        """Count one finished epoch: keep the weights if its validation accuracy is the best so far (``snapshot``
        copies them), check the target (on validation, or on ``target_accuracy()`` for the test split) and append
        ``record`` to the history. ``record`` must hold "seconds" and "val_acc"."""
        self.epoch += 1
        self.train_seconds += record["seconds"]
        record["epoch"] = self.epoch
        if record["val_acc"] > self.best_val_acc:
            self.best_val_acc, self.best_epoch = record["val_acc"], self.epoch
            self.best_state = snapshot()
        if target is not None:
            reached = record["val_acc"] if target.split == "val" or target_accuracy is None else target_accuracy()
            record[f"{target.split}_acc_for_target"] = reached
            if reached >= target.accuracy:
                self.time_to_target_s = self.train_seconds
        self.history.append(record)

    def to_dict(self, *, weights: bool = True) -> dict[str, Any]:
        """The fields by name (``best_state`` left out unless ``weights``)."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not weights:
            doc.pop("best_state")
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> FitState:
        """From ``to_dict`` or a checkpoint holding these keys among others (the others are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        state = cls(**{k: v for k, v in doc.items() if k in names})
        state.history = list(state.history)
        state.threads = dict(state.threads or {})
        return state
