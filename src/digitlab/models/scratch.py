"""The from-scratch NumPy network of seed-004 (Nielsen, *Neural Networks and Deep Learning*, network.py).

Fully connected sigmoid layers trained by mini-batch SGD with backpropagation written out by hand and
vectorised over the mini-batch: each step is a few matrix products, with no per-example Python loop.
The defaults are the seed's recipe exactly: sizes [784, 30, 10], sigmoid output, quadratic cost, weights
and biases drawn from N(0, 1), a fresh shuffle each epoch, batch 10, eta 3.0, and Nielsen's update rule
``w -> w - (eta / m) * sum of the m gradients`` (the gradient of the batch-mean cost times eta).

The options are those of his chapter 3 (network2.py): cross-entropy cost, a softmax output layer (with
cross-entropy, i.e. the log-likelihood cost), L2 regularisation as weight decay
``w -> (1 - eta * lambda / n) w - ...`` (n = training-set size; biases are not decayed), and "scaled"
initialisation: weights from N(0, 1/sqrt(n_in)) (standard deviation 1/sqrt(n_in)), biases still N(0, 1).

Arithmetic is float32 by default: on the seed recipe it ran 1.4-1.6x faster per epoch than float64 with the
same accuracy (5 seeds, 30 epochs each). ``dtype="float64"`` gives network.py's precision, and the
finite-difference gradient check needs it. Weights are always drawn in float64, then cast, so both dtypes
start from the same weights.

BLAS threads follow digitlab.utils.threads' policy: its mini-batch products are far too small to share (on a busy
machine, BLAS threads waiting for each other made a 10x784x100 product 15x slower), so SGD steps run on one
thread unless asked otherwise; evaluation chunks may use more.

NumPy only: importing this module must not import torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from digitlab.errors import DataError, ModelError
from digitlab.models.registry import register_model
from digitlab.utils.threads import inference_threads, run_plan

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

COSTS = ("quadratic", "cross-entropy")
OUTPUTS = ("sigmoid", "softmax")
INITS = ("normal", "scaled")
DTYPES = ("float32", "float64")
EVAL_CHUNK = 10_000  # rows per forward pass when evaluating: bounds memory for big inputs
QUIET_OVERFLOW = {"over": "ignore"}  # np.errstate arguments; set once per public call, not per step (costs µs)
_blas: ThreadpoolController | None = None  # found once: finding the BLAS libraries costs 0.4 ms a time


def blas_threads(count: int) -> Any:
    """A context in which NumPy's BLAS runs on ``count`` threads."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController  # here, not at the top: a registry lookup imports this module

        _blas = ThreadpoolController()
    return _blas.limit(limits=count, user_api="blas")


def sigmoid(z: np.ndarray) -> np.ndarray:
    # exp(-z) overflows to inf for z below -88 (float32) or -709 (float64), and the result, 0, is right:
    # callers run under QUIET_OVERFLOW
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def initial_parameters(sizes: Sequence[int], init: str, rng: np.random.Generator,
                       dtype: str = "float32") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(weights, biases) drawn as Nielsen does: all biases N(0, 1) first, then the weights, layer by layer.

    weights[l] has shape (sizes[l+1], sizes[l]); "scaled" divides the N(0, 1) weights by sqrt(sizes[l]).
    """
    biases = [rng.standard_normal(n_out).astype(dtype) for n_out in sizes[1:]]
    weights = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        w = rng.standard_normal((n_out, n_in))
        if init == "scaled":
            w /= np.sqrt(n_in)
        weights.append(w.astype(dtype))
    return weights, biases


def as_inputs(images: Any, n_inputs: int, dtype: str = "float32") -> np.ndarray:
    """Images as a float (N, n_inputs) array in [0, 1].

    Accepts uint8 (or other integer) pixels 0..255, scaled by 1/255, or floats already in [0, 1];
    shaped (H, W) or (n_inputs,) for one image, (N, H, W), (N, 1, H, W) or (N, n_inputs) for many.
    """
    x = np.asarray(images)
    if x.ndim >= 1 and x.shape[-1] == n_inputs:
        x = x.reshape(-1, n_inputs)
    elif x.ndim >= 2 and x.shape[-2] * x.shape[-1] == n_inputs:
        x = x.reshape(-1, n_inputs)
    else:
        raise DataError(f"images of shape {x.shape} do not hold {n_inputs} pixels each")
    if x.dtype.kind in "ui":
        if x.dtype != np.uint8 and x.size and (x.min() < 0 or x.max() > 255):
            raise DataError("integer pixels must lie in 0..255")
        scaled = x.astype(dtype)
        scaled /= 255
        return scaled
    if x.dtype.kind != "f":
        raise DataError(f"pixels must be integers 0..255 or floats in [0, 1], not {x.dtype}")
    if x.size and not (x.min() >= 0 and x.max() <= 1):  # also rejects NaN
        raise DataError("float pixels must lie in [0, 1] (divide 0..255 pixels by 255)")
    return x.astype(dtype, copy=False)


@register_model("scratch", family="numpy", default_recipe="seed-004",
                description="NumPy from scratch: fully connected sigmoid net [784, 30, 10], quadratic cost",
                defaults={"sizes": (784, 30, 10)}, reproduces="seed-004", published="> 96% test (~95% typical)")
class ScratchNetwork:
    """A sigmoid network trained by hand-written, mini-batch-vectorised backprop (seed-004).

    Weights are drawn from ``seed`` in the constructor (so ``state_dict``/``load_state_dict`` and
    ``predict`` work before ``fit``); ``fit`` trains from the current weights, and each call continues
    where the last one stopped. The same ``seed`` gives identical weights and an identical training run.
    """

    def __init__(self, sizes: Sequence[int] = (784, 30, 10), *, cost: str = "quadratic",
                 output: str = "sigmoid", init: str = "normal", l2: float = 0.0, seed: int = 0,
                 dtype: str = "float32", num_classes: int | None = None) -> None:
        sizes = [int(s) for s in sizes]
        if num_classes is not None:  # a class subset (as the torch models take it): the output layer's size
            sizes[-1] = int(num_classes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ModelError(f"sizes must list at least two positive layer sizes, got {sizes}")
        for name, value, allowed in (("cost", cost, COSTS), ("output", output, OUTPUTS),
                                     ("init", init, INITS), ("dtype", dtype, DTYPES)):
            if value not in allowed:
                raise ModelError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
        if not l2 >= 0:
            raise ModelError(f"l2 must be >= 0, got {l2}")
        self.sizes, self.cost, self.output, self.init = sizes, cost, output, init
        self.l2, self.seed, self.dtype = float(l2), int(seed), dtype
        # one generator: the initial weights, then each epoch's shuffle
        self._rng = np.random.default_rng(self.seed)
        self.weights, self.biases = initial_parameters(sizes, init, self._rng, dtype)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"ScratchNetwork({args})"

    # ---- forward and backward -------------------------------------------------------------------

    def _forward(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """(activations of every layer, input first; the output layer's weighted input z)."""
        activations = [x]
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            activations.append(sigmoid(activations[-1] @ w.T + b))
        z = activations[-1] @ self.weights[-1].T + self.biases[-1]
        activations.append(softmax(z) if self.output == "softmax" else sigmoid(z))
        return activations, z

    def _output_delta(self, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dC/dz at the output layer, one row per example."""
        if self.cost == "cross-entropy":
            return a - y  # the sigma'(z) cancels, for sigmoid + cross-entropy and softmax + log-likelihood
        g = a - y  # quadratic cost: dC/da
        if self.output == "sigmoid":
            return g * a * (1 - a)
        return a * (g - (a * g).sum(axis=1, keepdims=True))  # g times the softmax Jacobian

    def _backprop(self, activations: list[np.ndarray], y: np.ndarray,
                  scale: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradients of the cost summed over the batch (rows of the activations), times ``scale``.

        Backprop is linear in the output delta, so scaling it once scales every gradient: this spares
        a pass over each weight matrix per step.
        """
        delta = self._output_delta(activations[-1], y) * scale
        n_layers = len(self.weights)
        grad_w: list[np.ndarray] = [None] * n_layers  # type: ignore[list-item]
        grad_b: list[np.ndarray] = [None] * n_layers  # type: ignore[list-item]
        for layer in range(n_layers - 1, -1, -1):
            grad_w[layer] = delta.T @ activations[layer]
            grad_b[layer] = delta.sum(axis=0)
            if layer:
                a = activations[layer]
                delta = (delta @ self.weights[layer]) * a * (1 - a)
        return grad_w, grad_b

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """Integer labels (N,) as one-hot rows; (N, n_out) targets pass through."""
        y = np.asarray(y)
        n_out = self.sizes[-1]
        if y.ndim == 2 and y.shape[1] == n_out:
            return y.astype(self.dtype, copy=False)
        if y.ndim != 1 or y.dtype.kind not in "ui":
            raise DataError(f"labels must be integers of shape (N,) or targets (N, {n_out}), got {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= n_out):
            raise DataError(f"labels must lie in 0..{n_out - 1}")
        return np.eye(n_out, dtype=self.dtype)[y]

    def _cost(self, a: np.ndarray, z: np.ndarray, y: np.ndarray) -> float:
        """Mean cost per example (no L2 term); cross-entropies are computed from z, so never log(0)."""
        if self.cost == "quadratic":
            per_example = 0.5 * ((a - y) ** 2).sum(axis=1)
        elif self.output == "sigmoid":  # -[y ln a + (1-y) ln(1-a)] = softplus(z) - y z
            per_example = (np.logaddexp(0, z) - y * z).sum(axis=1)
        else:  # log-likelihood: -ln a_y = logsumexp(z) - z_y, for one-hot y
            top = z.max(axis=1, keepdims=True)
            log_sum = np.log(np.exp(z - top).sum(axis=1, keepdims=True)) + top
            per_example = ((log_sum - z) * y).sum(axis=1)
        return float(per_example.mean())

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean cost of float inputs ``x`` (N, n_in) against labels (N,) or targets (N, n_out); no L2 term."""
        with np.errstate(**QUIET_OVERFLOW):
            activations, z = self._forward(np.asarray(x, dtype=self.dtype))
        return self._cost(activations[-1], z, self._targets(y))

    def gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(weight gradients, bias gradients) of ``loss(x, y)``, the batch-mean cost without the L2 term.

        ``x`` is taken as given (float (N, n_in), any values), so a finite-difference check can probe it.
        """
        x = np.asarray(x, dtype=self.dtype)
        with np.errstate(**QUIET_OVERFLOW):
            activations, _ = self._forward(x)
        return self._backprop(activations, self._targets(y), 1.0 / len(x))

    # ---- training -------------------------------------------------------------------------------

    def _sgd_step(self, x: np.ndarray, y: np.ndarray, lr: float, decay: float) -> None:
        activations, _ = self._forward(x)
        # Nielsen: w -> w - (eta / len(mini_batch)) * (sum of the gradients)
        grad_w, grad_b = self._backprop(activations, y, lr / len(x))
        for w, b, gw, gb in zip(self.weights, self.biases, grad_w, grad_b, strict=True):
            if decay != 1.0:
                w *= decay
            w -= gw
            b -= gb

    def _evaluate(self, x: np.ndarray, y: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        """(mean cost, accuracy) over all rows, in chunks."""
        cost_sum, correct = 0.0, 0
        for start in range(0, len(x), EVAL_CHUNK):
            rows = slice(start, start + EVAL_CHUNK)
            activations, z = self._forward(x[rows])
            cost_sum += self._cost(activations[-1], z, y[rows]) * len(z)
            correct += int((activations[-1].argmax(axis=1) == labels[rows]).sum())
        return cost_sum / len(x), correct / len(x)

    def _examples(self, digits: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(inputs, one-hot targets, labels) of a ``Digits``-like object with images and labels."""
        x, labels = as_inputs(digits.images, self.sizes[0], self.dtype), np.asarray(digits.labels)
        if len(x) != len(labels):
            raise DataError(f"{len(x)} images but {len(labels)} labels")
        return x, self._targets(labels), labels

    def macs_per_image(self) -> int:
        return sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def thread_plan(self, batch_size: int, threads: object = None) -> dict[str, int]:
        """BLAS threads for SGD steps of ``batch_size`` ("train") and evaluation chunks ("eval"): ``threads``
        (an int, "auto" or None) where given, else digitlab.utils.threads' policy."""
        return run_plan(self.macs_per_image(), batch_size, EVAL_CHUNK, threads)

    def fit(self, train: Any, val: Any | None = None, *, epochs: int = 30, batch_size: int = 10,
            lr: float = 3.0, on_epoch: Callable[[dict], None] | None = None, threads: object = None,
            plan: dict[str, int] | None = None) -> list[dict]:
        """Mini-batch SGD on ``train`` (a ``Digits``: images and labels); one history dict per epoch.

        Each dict: epoch (1-based), train_loss / train_acc (over the whole training set after the epoch),
        val_loss / val_acc (None without ``val``), seconds (the SGD pass alone, evaluation excluded).
        Losses are the mean cost per example without the L2 term. ``on_epoch`` gets each dict as it is made.
        ``threads`` (an int, "auto" or None) or a ready ``plan`` (``thread_plan``) set the BLAS threads.
        """
        if epochs < 0 or batch_size < 1 or not lr > 0:
            raise ModelError(f"need epochs >= 0, batch_size >= 1 and lr > 0 (got {epochs}, {batch_size}, {lr})")
        x, y, labels = self._examples(train)
        if not len(x):
            raise DataError("no training images")
        if val is not None:
            val_x, val_y, val_labels = self._examples(val)
        n = len(x)
        decay = 1.0 - lr * self.l2 / n
        plan = plan or self.thread_plan(batch_size, threads)
        history = []
        for epoch in range(1, epochs + 1):
            with np.errstate(**QUIET_OVERFLOW), blas_threads(plan["train"]):
                start = time.perf_counter()
                order = self._rng.permutation(n)
                for first in range(0, n, batch_size):
                    batch = order[first:first + batch_size]
                    self._sgd_step(x[batch], y[batch], lr, decay)
                seconds = time.perf_counter() - start
            with np.errstate(**QUIET_OVERFLOW), blas_threads(plan["eval"]):
                train_loss, train_acc = self._evaluate(x, y, labels)
                val_loss = val_acc = None
                if val is not None:
                    val_loss, val_acc = self._evaluate(val_x, val_y, val_labels)
            record = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                      "val_loss": val_loss, "val_acc": val_acc, "seconds": seconds}
            history.append(record)
            if on_epoch is not None:
                on_epoch(record)
        return history

    # ---- inference ------------------------------------------------------------------------------

    def predict_proba(self, images: Any, threads: object = None) -> np.ndarray:
        """(N, n_out) class probabilities; sigmoid outputs are divided by their row sum. ``threads``: BLAS
        threads (an int, "auto" or None: digitlab.utils.threads' policy)."""
        x = as_inputs(images, self.sizes[0], self.dtype)
        count = inference_threads(self.macs_per_image(), min(len(x), EVAL_CHUNK), threads)
        with np.errstate(**QUIET_OVERFLOW), blas_threads(count):
            out = np.concatenate([self._forward(x[i:i + EVAL_CHUNK])[0][-1] for i in range(0, len(x), EVAL_CHUNK)]
                                 or [np.empty((0, self.sizes[-1]), self.dtype)])
        return out if self.output == "softmax" else out / out.sum(axis=1, keepdims=True)

    def predict(self, images: Any) -> np.ndarray:
        return self.predict_proba(images).argmax(axis=1).astype(np.int64)

    def score(self, images: Any, labels: Any) -> float:
        """Accuracy on (images, labels)."""
        labels = np.asarray(labels)
        predicted = self.predict(images)
        if len(predicted) != len(labels):
            raise DataError(f"{len(predicted)} images but {len(labels)} labels")
        return float((predicted == labels).mean())

    # ---- parameters and state -------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able: ``ScratchNetwork(**net.get_params())`` rebuilds the model."""
        return {"sizes": list(self.sizes), "cost": self.cost, "output": self.output, "init": self.init,
                "l2": self.l2, "seed": self.seed, "dtype": self.dtype}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the learned arrays: "weights.0", "biases.0", ... (weights (n_out, n_in), biases (n_out,))."""
        state = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            state[f"weights.{i}"] = w.copy()
            state[f"biases.{i}"] = b.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace the weights; the keys and shapes must match this network's sizes exactly."""
        expected = self.state_dict()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        if missing or unexpected:
            raise ModelError(f"state does not fit sizes {self.sizes}: missing {missing}, unexpected {unexpected}")
        loaded = {}
        for key, ref in expected.items():
            value = np.asarray(state[key])
            if value.shape != ref.shape:
                raise ModelError(f"{key}: shape {value.shape} does not fit sizes {self.sizes} (expected {ref.shape})")
            if value.dtype.kind != "f":
                raise ModelError(f"{key}: expected floats, got {value.dtype}")
            loaded[key] = value.astype(self.dtype)  # always a copy: the caller's arrays stay theirs
        self.weights = [loaded[f"weights.{i}"] for i in range(len(self.weights))]
        self.biases = [loaded[f"biases.{i}"] for i in range(len(self.biases))]
