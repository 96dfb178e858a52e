"""The one training engine for every torch model.

Plain PyTorch: the whole split lives on the device (``DeviceBatches``), one optimiser step per batch,
a per-batch schedule, validation after each epoch, the best epoch's weights kept (model selection on
validation, never on test), an atomic checkpoint after every epoch so a killed run can resume and end
bit-identical to an uninterrupted one (on CPU). Steps and evaluation run on the intra-op threads
``digitlab.utils.threads`` chooses from the work (``thread_plan``).

Under torchrun (``dist``, training/distributed.py) the same loop runs on every rank: the model in
DistributedDataParallel, each rank its slice of every batch (the recipe's batch size is the global batch), the
epoch's loss, accuracy and validation summed over the ranks (the same figures everywhere), and rank 0 alone
writing the checkpoint and metrics.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from digitlab.data.batches import DeviceBatches
from digitlab.data.datasets import Digits
from digitlab.errors import DigitlabError
from digitlab.inference.normalization import Normalization
from digitlab.training.augment import Affine
from digitlab.training.distributed import Dist
from digitlab.training.recipes import Recipe
from digitlab.training.run_dir import TORCH_CHECKPOINT, RunDir
from digitlab.training.state import FitState, Target
from digitlab.utils.fileio import atomic_open
from digitlab.utils.threads import run_plan, torch_macs, torch_threads

CHECKPOINT = TORCH_CHECKPOINT  # in the run directory (training/run_dir.py)
EVAL_BATCH = 2048


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise DigitlabError(f"unknown device {name!r}; choose auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise DigitlabError("--device cuda asked for, but no CUDA GPU is available (torch sees none)")
    return torch.device(name)


def make_optimizer(params: Any, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(params, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, total_steps: int) -> Any:
    """A per-batch schedule, or None for a constant learning rate."""
    if recipe.schedule == "onecycle":
        args = {"pct_start": 0.25, "cycle_momentum": False, **recipe.schedule_args}
        if total_steps < 4:  # too short to warm up and anneal (small --limit runs): keep the peak rate
            return None
        # Each phase needs at least one step, or OneCycleLR divides by zero on tiny runs.
        args["pct_start"] = min(max(args["pct_start"], 1.5 / total_steps), 1 - 1.5 / total_steps)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total_steps, **args)
    if recipe.schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total_steps))
    return None


def loss_function(recipe: Recipe) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if recipe.loss == "nll-on-probs":
        # Seed 000 feeds probabilities (not log-probabilities) into NLLLoss: the "loss" is -p[target],
        # which is why its curve converges to -1. Kept only for the faithful recipe.
        return F.nll_loss
    return lambda logits, y: F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def evaluate_batches(model: nn.Module, batches: DeviceBatches, loss_fn: Callable,
                     dist: Dist | None = None) -> tuple[float, float]:
    """(mean loss, accuracy) over a split, in eval mode; with ``dist``, over every rank's share of it."""
    loss_sum, correct = _evaluation_sums(model, batches, loss_fn)
    n = max(1, batches.total)
    if dist is None:
        return loss_sum.item() / n, correct.item() / n
    loss_total, correct_total = dist.all_sum([loss_sum.item(), float(correct.item())])
    return loss_total / n, correct_total / n


@torch.inference_mode()
def _evaluation_sums(model: nn.Module, batches: DeviceBatches, loss_fn: Callable) -> tuple[torch.Tensor, torch.Tensor]:
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=batches.x.device)
    correct = torch.zeros((), dtype=torch.int64, device=batches.x.device)
    for x, y in batches:
        with autocast(x.device):
            out = model(x)
        loss_sum += loss_fn(out.float(), y).double() * len(y)
        correct += (out.argmax(1) == y).sum()
    model.train(was_training)
    return loss_sum, correct


def thread_plan(model: nn.Module, batch_size: int, threads: object = None) -> dict[str, int]:
    """Intra-op threads for this model's training steps ("train") and evaluation batches ("eval"):
    ``threads`` (an int, "auto" or None) where given, else digitlab.utils.threads' policy from the MACs per image."""
    return run_plan(torch_macs(model), batch_size, EVAL_BATCH, threads)


class ProgressBar:
    """A rich progress bar per epoch: loss, accuracy, images/s, ETA. A no-op when disabled."""

    def __init__(self, enabled: bool, epochs: int, steps: int) -> None:
        self.enabled, self.epochs, self.steps = enabled, epochs, steps
        self.every = max(1, steps // 50)
        self.progress = None

    def start(self, epoch: int) -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from digitlab.utils.console import err

        if err.is_jupyter:  # rich would draw into a widget that a saved notebook cannot show
            from digitlab.notebook.progress import NotebookProgress as Progress  # noqa: N814
        self.progress = Progress(
            TextColumn(f"epoch {epoch + 1}/{self.epochs}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:6.2%}  {task.fields[ips]:>7,.0f} img/s"),
            TimeRemainingColumn(), console=err, transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=self.steps, loss=0.0, acc=0.0, ips=0.0)

    def due(self, step: int) -> bool:
        """Whether to redraw now (reading the running loss syncs the device, so not every step)."""
        return self.progress is not None and (step % self.every == 0 or step == self.steps)

    def update(self, step: int, loss: float, acc: float, images_per_s: float) -> None:
        self.progress.update(self.task, completed=step, loss=loss, acc=acc, ips=images_per_s)

    def end(self, record: dict) -> None:
        if self.progress is None:
            return
        self.progress.stop()
        self.progress = None
        from digitlab.utils.console import err

        val = (f"  val loss {record['val_loss']:.4f}  val acc {record['val_acc']:.2%}"
               if record.get("val_acc") is not None else "")
        err.print(f"epoch {record['epoch']}/{self.epochs}  loss {record['train_loss']:.4f}  "
                  f"acc {record['train_acc']:.2%}{val}  ({record['seconds']:.1f} s)")


def _save_checkpoint(path: Path, model: nn.Module, optimizer: Any, scheduler: Any, batches: DeviceBatches,
                     state: FitState, aug_rng: torch.Generator, ema: Any, rank_rngs: list | None = None) -> None:
    payload = {
        **state.to_dict(), "model": model.state_dict(),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict() if scheduler else None,
        "batch_rng": batches.get_state(), "torch_rng": torch.get_rng_state(), "aug_rng": aug_rng.get_state(),
        "ema": ema.state_dict() if ema is not None else None,
    }
    if rank_rngs is not None:  # DDP: every rank's (torch, augmentation) RNG states, so each resumes its own
        payload["rank_rngs"] = rank_rngs
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)  # never unpickle arbitrary objects
    except Exception as e:
        raise DigitlabError(f"{path}: unreadable checkpoint ({e})") from None


def fit(model: nn.Module, recipe: Recipe, train: Digits, val: Digits, *, device: torch.device,
        run_dir: RunDir | Path | None = None, target: Target | None = None, test: Digits | None = None,
        show_progress: bool = False, on_epoch: Callable[[dict], None] | None = None,
        resume: dict[str, Any] | None = None, threads: object = None,
        plan: dict[str, int] | None = None, dist: Dist | None = None, sync_bn: bool = False) -> FitState:
    """Train ``model`` by ``recipe``; return the state (history, best weights, timings).

    The model's own (possibly compiled) forward is used for training; ``model`` itself is updated in
    place and ends holding the best epoch's weights. ``threads`` (an int, "auto" or None) or a ready ``plan``
    (``thread_plan``) set the intra-op threads. ``dist``: this rank of a torchrun job (``device`` is then its
    own); ``sync_bn``: BatchNorm over the global batch (SyncBatchNorm, CUDA).
    """
    if dist is not None and recipe.batch_size % dist.world_size:
        raise DigitlabError(f"batch size {recipe.batch_size} does not split over {dist.world_size} processes: "
                            f"choose a multiple of {dist.world_size} (each takes batch / processes)")
    plan = plan or thread_plan(model, recipe.batch_size, threads)
    run_dir = RunDir(run_dir) if run_dir is not None else None
    with torch_threads(plan["train"]):
        state = _fit(model, recipe, train, val, device=device, run_dir=run_dir, target=target, test=test,
                     show_progress=show_progress, on_epoch=on_epoch, resume=resume, eval_threads=plan["eval"],
                     dist=dist, sync_bn=sync_bn)
    state.threads = dict(plan)
    return state


def _fit(model: nn.Module, recipe: Recipe, train: Digits, val: Digits, *, device: torch.device,
         run_dir: RunDir | None, target: Target | None, test: Digits | None, show_progress: bool,
         on_epoch: Callable[[dict], None] | None, resume: dict[str, Any] | None, eval_threads: int,
         dist: Dist | None = None, sync_bn: bool = False) -> FitState:
    def evaluate(batches: DeviceBatches) -> tuple[float, float]:
        with torch_threads(eval_threads):
            return evaluate_batches(eval_model, batches, loss_fn, dist)

    norm = Normalization.named(recipe.normalization)
    model = model.to(device)
    shard = {"rank": dist.rank, "world_size": dist.world_size} if dist is not None else {}
    if sync_bn and dist is not None:
        from digitlab.training.distributed import convert_sync_bn

        model = convert_sync_bn(model, device)
    train_batches = DeviceBatches(train, recipe.batch_size, normalization=norm, shuffle=True, seed=recipe.seed,
                                  device=device, **shard)
    val_batches = DeviceBatches(val, EVAL_BATCH, normalization=norm, device=device, **shard)
    target_batches = val_batches
    if target is not None and target.split == "test":
        if test is None:
            raise DigitlabError("--target-split test needs the test split")
        target_batches = DeviceBatches(test, EVAL_BATCH, normalization=norm, device=device, **shard)
    optimizer = make_optimizer(model.parameters(), recipe)
    scheduler = make_scheduler(optimizer, recipe, recipe.epochs * len(train_batches))
    loss_fn = loss_function(recipe)
    augment = Affine.from_recipe(recipe.augment)
    # The digit each class index shows (-1: not a digit, e.g. Fashion-MNIST), for the class-style augmentation.
    digit_of = torch.tensor([int(c) if c.isdigit() else -1 for c in train.classes], device=device)
    aug_rng = torch.Generator().manual_seed(recipe.seed + 1 + (dist.rank if dist is not None else 0))
    if dist is not None and not dist.is_main:  # its own dropout masks; rank 0 keeps the single-process stream
        torch.manual_seed(recipe.seed + 7919 * dist.rank)
    ema = None
    if recipe.ema is not None:  # evaluated, selected and kept instead of the raw weights
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema), use_buffers=True)
    eval_model = ema.module if ema is not None else model

    state = FitState()
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        if scheduler is not None and resume["scheduler"] is not None:
            scheduler.load_state_dict(resume["scheduler"])
        train_batches.set_state(resume["batch_rng"])
        torch.set_rng_state(resume["torch_rng"])
        aug_rng.set_state(resume["aug_rng"])
        if ema is not None:
            ema.load_state_dict(resume["ema"])
        if dist is not None:
            rngs = resume.get("rank_rngs")
            if rngs is None or len(rngs) != dist.world_size:
                raise DigitlabError(f"the checkpoint holds {len(rngs) if rngs else 1} rank(s), this job "
                                    f"{dist.world_size}: resume with as many processes as the run started with")
            torch.set_rng_state(rngs[dist.rank][0])
            aug_rng.set_state(rngs[dist.rank][1])
        state = FitState.from_dict(resume)
    trained = model
    if dist is not None:
        from digitlab.training.distributed import wrap_model

        trained = wrap_model(model, dist)  # gradients averaged over the ranks in backward
    forward = torch.compile(trained) if recipe.compile else trained

    bar = ProgressBar(show_progress and (dist is None or dist.is_main), recipe.epochs, len(train_batches))
    model.train()
    while not state.done(recipe.epochs):
        bar.start(state.epoch)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        start = time.perf_counter()
        for step, (x, y) in enumerate(train_batches, 1):
            if augment is not None:
                x = augment(x, aug_rng, digits=digit_of[y])
            with autocast(device):
                out = forward(x)
                loss = loss_fn(out.float(), y)
            optimizer.zero_grad(set_to_none=True)
            if dist is not None:  # DDP averages the ranks' gradients: weigh each by its share of the batch
                (loss * (len(y) * dist.world_size / train_batches.global_size(step - 1))).backward()
            else:
                loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            loss_sum += loss.detach() * len(y)
            correct += (out.detach().argmax(1) == y).sum()
            seen += len(y)
            if bar.due(step):
                bar.update(step, loss_sum.item() / seen, correct.item() / seen,
                           seen / max(1e-9, time.perf_counter() - start))
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        loss_total, correct_total = loss_sum.item(), correct.item()
        if dist is not None:  # the whole batch's figures, the same on every rank
            loss_total, correct_total, seen = dist.all_sum([loss_total, float(correct_total), float(seen)])
            seconds = dist.all_max(seconds)
            dist.sync_buffers(model)
            if ema is not None:
                dist.sync_buffers(ema)
        train_loss = loss_total / max(1, seen)
        if not math.isfinite(train_loss):
            raise DigitlabError(f"training diverged at epoch {state.epoch + 1} (loss {train_loss}); lower --lr")
        val_loss, val_acc = evaluate(val_batches)
        record = {"epoch": state.epoch + 1, "train_loss": train_loss, "train_acc": correct_total / max(1, seen),
                  "val_loss": val_loss, "val_acc": val_acc, "seconds": seconds,
                  "lr": optimizer.param_groups[0]["lr"]}
        state.close_epoch(record, target=target, target_accuracy=lambda: evaluate(target_batches)[1],
                          snapshot=lambda: {k: v.detach().to("cpu", copy=True)
                                            for k, v in eval_model.state_dict().items()})
        bar.end(record)
        rank_rngs = None
        if dist is not None:
            rank_rngs = dist.gather_objects((torch.get_rng_state(), aug_rng.get_state()))
        if run_dir is not None and (dist is None or dist.is_main):
            # The checkpoint first: metrics.jsonl never runs ahead of what --resume restores.
            _save_checkpoint(run_dir / CHECKPOINT, model, optimizer, scheduler, train_batches, state, aug_rng, ema,
                             rank_rngs)
            run_dir.write_metrics(state.history)
        if on_epoch is not None:
            on_epoch(record)

    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    model.eval()
    return state
