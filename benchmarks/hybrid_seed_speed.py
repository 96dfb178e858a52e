"""Seed 000, digitlab's batched engine vs a faithful batch-1 re-implementation of the seed's loop, same run.

The faithful loop is the seed's code (QuTrunk's hybrid example) with only the framework swapped: the
same network (``x.view(1, -1)``: batch 1 only), a ``torch.autograd.Function`` that runs the circuit once
per sample in the forward pass and twice per sample in the backward pass (parameter shift, and, as in
the seed, ``E(theta + pi/2) - E(theta - pi/2)`` without the factor 1/2), 100 shots per run, Adam 1e-4
with weight decay 1e-3, NLLLoss on the probabilities, one optimiser step per image. The circuit runs
on a NumPy statevector with binomial shot sampling (``--circuit numpy``) -- far cheaper than QuTrunk,
which re-simulates the circuit for every shot -- or on QuTrunk itself (``--circuit qutrunk``, where it
is importable), so the speed-up measured against the NumPy variant is a lower bound.

    python benchmarks/hybrid_seed_speed.py --epochs 3 --repeats 3 [--backends exact,shots] [--json out.json]

Prints, per epoch: seconds (training only, evaluation excluded) and validation accuracy; then the
median seconds per epoch of each and the speed-up of each digitlab backend over the faithful loop.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from digitlab.data.batches import to_tensor
from digitlab.inference.normalization import Normalization
from digitlab.models.registry import create_model
from digitlab.training.engine import fit
from digitlab.training.recipes import get_recipe
from digitlab.training.run import prepare_data


class NumpyCircuit:
    """The seed's circuit (H, Ry(theta), measure) run once per call: statevector, then ``shots`` samples."""

    def __init__(self, shots: int, seed: int) -> None:
        self.shots, self.rng = shots, np.random.default_rng(seed)

    def run(self, theta: float) -> np.ndarray:
        c, s = math.cos(theta / 2), math.sin(theta / 2)
        amp1 = (s + c) / math.sqrt(2)  # <1| Ry(theta) H |0>
        counts = self.rng.binomial(self.shots, amp1 * amp1)
        return np.array([counts / self.shots])  # expectation of the measured bit, as the seed computes it


class QuTrunkCircuit:
    """The seed's QuantumCircuit class: a fresh QuTrunk circuit per run, counts parsed from JSON."""

    def __init__(self, shots: int, seed: int) -> None:
        import random

        random.seed(seed)
        self.shots = shots

    def run(self, theta: float) -> np.ndarray:
        from qutrunk.circuit import QCircuit
        from qutrunk.circuit.gates import H, Measure, Ry

        qc = QCircuit()
        q = qc.allocate(1)
        H * q[0]
        Ry(theta) * q[0]
        Measure * q[0]
        counts = json.loads(qc.run(shots=self.shots).get_counts())
        states = np.array([float(int(k, 2)) for r in counts for k in r])
        freqs = np.array([v for r in counts for v in r.values()]) / self.shots
        return np.array([np.sum(states * freqs)])


class SeedHybridFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, circuit, shift):  # noqa: ANN001, ANN205 - mirrors the seed
        ctx.shift, ctx.circuit = shift, circuit
        result = torch.tensor([circuit.run(x[0].tolist()[0])])
        ctx.save_for_backward(x, result)
        return result

    @staticmethod
    def backward(ctx, grad_output):  # noqa: ANN001, ANN205
        x, _ = ctx.saved_tensors
        inputs = np.array(x.tolist())
        right, left = inputs + ctx.shift, inputs - ctx.shift
        gradients = [torch.tensor(ctx.circuit.run(right[i][0])) - torch.tensor(ctx.circuit.run(left[i][0]))
                     for i in range(len(inputs))]
        return torch.tensor(np.array([gradients]).T).float().reshape(x.shape) * grad_output.float(), None, None


class SeedNet(nn.Module):
    def __init__(self, circuit: object) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.dropout = nn.Dropout2d()
        self.fc1 = nn.Linear(256, 64)
        self.fc2 = nn.Linear(64, 1)
        self.circuit = circuit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout(x)
        x = x.view(1, -1)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        x = SeedHybridFunction.apply(x, self.circuit, math.pi / 2)
        return torch.cat((x, 1 - x), -1)


def faithful_run(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
                 epochs: int, seed: int, circuit_kind: str) -> list[dict]:
    torch.manual_seed(seed)
    circuit = (QuTrunkCircuit if circuit_kind == "qutrunk" else NumpyCircuit)(100, seed)
    model = SeedNet(circuit)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-3)
    loss_func = nn.NLLLoss()
    generator = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        total_loss = []
        start = time.perf_counter()
        for i in torch.randperm(len(train_y), generator=generator).tolist():  # DataLoader(batch_size=1, shuffle)
            data, target = train_x[i:i + 1], train_y[i:i + 1]
            optimizer.zero_grad()
            output = model(data)
            loss = loss_func(output, target)
            loss.backward()
            optimizer.step()
            total_loss.append(loss.item())
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            correct = sum(int(model(val_x[i:i + 1]).argmax(1).item() == val_y[i].item()) for i in range(len(val_y)))
        history.append({"epoch": epoch, "seconds": seconds, "val_acc": correct / len(val_y),
                        "train_loss": sum(total_loss) / len(total_loss)})
    return history


def digitlab_run(train, val, epochs: int, seed: int, backend: str) -> list[dict]:  # noqa: ANN001
    recipe = get_recipe("seed-000").override(epochs=epochs, seed=seed)
    torch.manual_seed(seed)
    model = create_model("hybrid-qnn", **{**recipe.model_args, "backend": backend})
    state = fit(model, recipe, train, val, device=torch.device("cpu"))
    return [{k: r[k] for k in ("epoch", "seconds", "val_acc", "train_loss")} for r in state.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, with seeds 0..repeats-1")
    parser.add_argument("--backends", default="exact,shots", help="digitlab backends to time")
    parser.add_argument("--circuit", default="numpy", choices=("numpy", "qutrunk"), help="the faithful loop's")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared machine a second OpenMP thread slows small ops)")
    parser.add_argument("--json", default=None, help="also write all figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # The seed builds tensors from lists of ndarrays, which torch warns about on every call; same cost, no noise.
    warnings.filterwarnings("ignore", message="Creating a tensor from a list of numpy.ndarrays")

    recipe = get_recipe("seed-000")
    train, val, _, _ = prepare_data(recipe, None)
    norm = Normalization.named(recipe.normalization)
    tx, vx = to_tensor(train.images, norm), to_tensor(val.images, norm)
    ty, vy = torch.from_numpy(train.labels), torch.from_numpy(val.labels)
    print(f"seed-000 data: {len(train)} training images, {len(val)} validation images; "
          f"digitlab recipe: batch {recipe.batch_size}, lr {recipe.lr}; torch threads {torch.get_num_threads()}")

    runs: dict[str, list[list[dict]]] = {"faithful": []} | {b: [] for b in args.backends.split(",")}
    for seed in range(args.repeats):  # interleaved, so load drift on a shared machine hits both alike
        for name in runs:
            history = (faithful_run(tx, ty, vx, vy, args.epochs, seed, args.circuit) if name == "faithful"
                       else digitlab_run(train, val, args.epochs, seed, name))
            runs[name].append(history)
            print(f"{name:>9} seed {seed}: " + "  ".join(
                f"ep{r['epoch']} {r['seconds']:.2f}s val {r['val_acc']:.2%}" for r in history), flush=True)

    summary = {}
    for name, histories in runs.items():
        seconds = statistics.median(r["seconds"] for h in histories for r in h)
        val_by_epoch = [[h[e]["val_acc"] for h in histories] for e in range(args.epochs)]
        summary[name] = {"median_epoch_seconds": seconds, "min_val_acc_by_epoch": [min(v) for v in val_by_epoch],
                         "mean_val_acc_by_epoch": [statistics.mean(v) for v in val_by_epoch]}
    base = summary["faithful"]["median_epoch_seconds"]
    print(f"\n{'implementation':<28} {'s/epoch':>8} {'speed-up':>9}  min val acc after epochs 1..{args.epochs}")
    for name, s in summary.items():
        label = f"faithful batch-1 ({args.circuit})" if name == "faithful" else f"digitlab seed-000 ({name})"
        s["speedup"] = base / s["median_epoch_seconds"]
        accs = " ".join(f"{a:.2%}" for a in s["min_val_acc_by_epoch"])
        print(f"{label:<28} {s['median_epoch_seconds']:>8.3f} {s['speedup']:>8.1f}x  {accs}")
    if args.json:
        from pathlib import Path

        from digitlab.utils.fileio import atomic_write_json

        atomic_write_json(Path(args.json), {"args": vars(args), "summary": summary, "runs": runs})


if __name__ == "__main__":
    main()
