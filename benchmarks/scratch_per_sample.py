"""Per-example backprop (the textbook loop of Nielsen's network.py) against the vectorised ScratchNetwork.

Seed-004's recipe for all: sizes [784, 30, 10], sigmoid, quadratic cost, N(0, 1) init, batch 10, eta 3.0,
trained on the first 50,000 MNIST training images and validated on the last 10,000. The per-example
network (float64, as network.py) and the vectorised ScratchNetwork in float64 start from the same initial
weights and see the same mini-batches in the same order (the per-example network replays the generator
ScratchNetwork draws its weights and each epoch's shuffle from): up to rounding they compute the same thing,
so their accuracy curves should agree. ScratchNetwork in float32 starts from the same weights, rounded.

The epochs are interleaved (float64, float32, per-example) so that all meet the same machine load, and BLAS
runs on one thread in every timed loop. Timed: each epoch's SGD pass (wall clock). Not timed: data
conversion and the evaluations. The per-example loop takes many seconds per epoch, so the default is 3
epochs; ``--train-size`` shortens them further.

    DIGITLAB_DATA=/tmp/dl-data .venv/bin/python benchmarks/scratch_per_sample.py [--epochs 3] [--json]

With ``--json`` the table goes to stderr and a JSON document to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from digitlab.data import load_dataset
from digitlab.models.scratch import ScratchNetwork, initial_parameters

SIZES = (784, 30, 10)
BATCH_SIZE = 10
LR = 3.0
DTYPES = ("float64", "float32")  # float64: the same arithmetic as network.py; float32: faster, as accurate


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    return sigmoid(z) * (1 - sigmoid(z))


class PerSampleNetwork:
    """network.py's algorithm kept to its shape: column vectors, backprop one example at a time,
    gradients summed over the mini-batch, then ``w -> w - (eta / m) * sum``."""

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        self.weights = [w.copy() for w in weights]
        self.biases = [b.reshape(-1, 1).copy() for b in biases]

    def feedforward(self, a: np.ndarray) -> np.ndarray:
        """Columns in, columns out: one example (n, 1) or many (n, N)."""
        for b, w in zip(self.biases, self.weights, strict=True):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def update_mini_batch(self, mini_batch: list[tuple[np.ndarray, np.ndarray]], eta: float) -> None:
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b, strict=True)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w, strict=True)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w, strict=True)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b, strict=True)]

    def backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights, strict=True):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])  # quadratic cost
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for layer in range(2, len(self.weights) + 1):
            delta = np.dot(self.weights[-layer + 1].transpose(), delta) * sigmoid_prime(zs[-layer])
            nabla_b[-layer] = delta
            nabla_w[-layer] = np.dot(delta, activations[-layer - 1].transpose())
        return nabla_b, nabla_w

    def sgd_epoch(self, training_data: list[tuple[np.ndarray, np.ndarray]], order: np.ndarray) -> None:
        shuffled = [training_data[i] for i in order]
        for k in range(0, len(shuffled), BATCH_SIZE):
            self.update_mini_batch(shuffled[k:k + BATCH_SIZE], LR)

    def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
        """x: (n, N) columns; evaluation is not timed, so it runs on all columns at once."""
        return float((self.feedforward(x).argmax(axis=0) == labels).mean())


def compare(epochs: int, train_size: int, seed: int) -> dict:
    splits = load_dataset("mnist")
    train, val = splits.split_validation(10_000)
    train = train.take(slice(0, train_size))
    vectorised = {dtype: ScratchNetwork(SIZES, seed=seed, dtype=dtype) for dtype in DTYPES}

    # Replay ScratchNetwork's generator: the initial weights, then one permutation per epoch.
    rng = np.random.default_rng(seed)
    weights, biases = initial_parameters(SIZES, "normal", rng, "float64")
    reference = vectorised["float64"]
    identical_start = all(np.array_equal(a, b) for a, b in zip(weights + biases, reference.weights + reference.biases,
                                                               strict=True))
    per_sample = PerSampleNetwork(weights, biases)
    columns = train.images.reshape(len(train), -1) / 255
    targets = np.eye(10)[train.labels]
    training_data = [(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(columns, targets, strict=True)]
    val_columns = val.images.reshape(len(val), -1).T / 255
    test_columns = splits.test.images.reshape(len(splits.test), -1).T / 255

    rows = []
    load_before = os.getloadavg()[0]
    for epoch in range(1, epochs + 1):
        row: dict = {"epoch": epoch}
        for dtype, net in vectorised.items():
            record = net.fit(train, val, epochs=1, batch_size=BATCH_SIZE, lr=LR)[0]
            row[f"{dtype}_s"], row[f"{dtype}_val_acc"] = record["seconds"], record["val_acc"]
        order = rng.permutation(len(train))
        with threadpool_limits(limits=1, user_api="blas"):  # as ScratchNetwork.fit does
            start = time.perf_counter()
            per_sample.sgd_epoch(training_data, order)
            row["per_sample_s"] = time.perf_counter() - start
        row["per_sample_val_acc"] = per_sample.accuracy(val_columns, val.labels)
        rows.append(row)
    summary = {}
    for dtype in DTYPES:
        summary[dtype] = {
            "speedup_median": statistics.median(r["per_sample_s"] / r[f"{dtype}_s"] for r in rows),
            "max_val_acc_gap_pt": 100 * max(abs(r[f"{dtype}_val_acc"] - r["per_sample_val_acc"]) for r in rows),
            "test_acc": vectorised[dtype].score(splits.test.images, splits.test.labels),
        }
    summary["per_sample"] = {"test_acc": per_sample.accuracy(test_columns, splits.test.labels)}
    return {
        "config": {"sizes": list(SIZES), "batch_size": BATCH_SIZE, "lr": LR, "epochs": epochs,
                   "train_size": len(train), "val_size": len(val), "seed": seed},
        "identical_start": identical_start,
        "epochs": rows,
        "summary": summary,
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                    "load_average_1min": [load_before, os.getloadavg()[0]]},
    }


def table(result: dict) -> str:
    header = f"{'epoch':>5}  {'per-sample':>10}"
    for dtype in DTYPES:
        header += f"  {dtype:>16}"
    header += "   val acc: per-sample" + "".join(f"  {dtype:>8}" for dtype in DTYPES)
    lines = [header]
    for r in result["epochs"]:
        line = f"{r['epoch']:>5}  {r['per_sample_s']:>9.2f}s"
        for dtype in DTYPES:
            line += f"  {r[f'{dtype}_s']:>6.2f}s ({r['per_sample_s'] / r[f'{dtype}_s']:>5.1f}x)"
        line += f"   {100 * r['per_sample_val_acc']:>18.2f}%" + "".join(
            f"  {100 * r[f'{dtype}_val_acc']:>7.2f}%" for dtype in DTYPES)
        lines.append(line)
    summary = result["summary"]
    lines.append(f"test accuracy: per-sample {100 * summary['per_sample']['test_acc']:.2f}%" + "".join(
        f", {dtype} {100 * summary[dtype]['test_acc']:.2f}%" for dtype in DTYPES))
    for dtype in DTYPES:
        lines.append(f"{dtype}: median speedup {summary[dtype]['speedup_median']:.1f}x, largest val-accuracy gap "
                     f"{summary[dtype]['max_val_acc_gap_pt']:.2f} pt")
    lines.append(f"identical initial weights: {result['identical_start']}; "
                 f"load average {result['machine']['load_average_1min'][0]:.1f} on {result['machine']['cpus']} CPUs")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs for both networks (default 3)")
    parser.add_argument("--train-size", type=int, default=50_000, help="first N of the 50k training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="JSON to stdout, the table to stderr")
    args = parser.parse_args()
    result = compare(args.epochs, args.train_size, args.seed)
    print(table(result), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
