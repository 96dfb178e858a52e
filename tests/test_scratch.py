"""The from-scratch NumPy network (seed-004): gradients, the update rule, determinism, learning, state, inputs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitlab.data.datasets import Digits
from digitlab.errors import DataError, ModelError
from digitlab.models.scratch import ScratchNetwork, initial_parameters

COMBINATIONS = [(cost, output) for cost in ("quadratic", "cross-entropy") for output in ("sigmoid", "softmax")]


def random_digits(n: int, seed: int = 0) -> Digits:
    rng = np.random.default_rng(seed)
    return Digits(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64))


def numerical_gradient(net: ScratchNetwork, param: np.ndarray, x: np.ndarray, y: np.ndarray,
                       h: float = 1e-6) -> np.ndarray:
    """Central differences of net.loss with respect to each entry of ``param`` (changed in place, restored)."""
    grad = np.zeros_like(param)
    for i in np.ndindex(param.shape):
        saved = param[i]
        param[i] = saved + h
        up = net.loss(x, y)
        param[i] = saved - h
        down = net.loss(x, y)
        param[i] = saved
        grad[i] = (up - down) / (2 * h)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)))


def test_import_does_not_import_torch():
    code = "import sys, digitlab.models.scratch; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("cost", "output"), COMBINATIONS)
def test_backprop_matches_finite_differences(cost, output):
    net = ScratchNetwork((6, 5, 4, 3), cost=cost, output=output, seed=1, dtype="float64")
    rng = np.random.default_rng(2)
    x, y = rng.random((7, 6)), rng.integers(0, 3, 7)
    grad_w, grad_b = net.gradients(x, y)
    for analytic, param in [*zip(grad_w, net.weights, strict=True), *zip(grad_b, net.biases, strict=True)]:
        assert relative_error(analytic, numerical_gradient(net, param, x, y)) < 1e-6


def test_update_rule_is_nielsens_with_weight_decay():
    """One step over the whole set: w -> (1 - eta*lambda/n) w - eta * mean gradient; biases are not decayed."""
    train = random_digits(8)
    net = ScratchNetwork((784, 5, 10), cost="cross-entropy", l2=5.0, seed=3, dtype="float64")
    x = train.images.reshape(8, 784) / 255
    grad_w, grad_b = net.gradients(x, train.labels)
    before_w, before_b = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    lr = 0.5
    net.fit(train, epochs=1, batch_size=len(train), lr=lr)
    for w, w0, g in zip(net.weights, before_w, grad_w, strict=True):
        np.testing.assert_allclose(w, (1 - lr * 5.0 / 8) * w0 - lr * g, rtol=1e-12, atol=1e-12)
    for b, b0, g in zip(net.biases, before_b, grad_b, strict=True):
        np.testing.assert_allclose(b, b0 - lr * g, rtol=1e-12, atol=1e-12)


def test_initialisation_normal_and_scaled():
    normal = ScratchNetwork(seed=0)
    scaled = ScratchNetwork(init="scaled", seed=0)
    assert normal.weights[0].dtype == np.float32  # the default: as accurate as float64 here, and faster
    np.testing.assert_array_equal(ScratchNetwork(seed=0, dtype="float64").weights[0].astype(np.float32),
                                  normal.weights[0])  # both dtypes start from the same draw
    assert [w.shape for w in normal.weights] == [(30, 784), (10, 30)]
    assert [b.shape for b in normal.biases] == [(30,), (10,)]
    assert normal.weights[0].std() == pytest.approx(1.0, rel=0.05)
    assert scaled.weights[0].std() == pytest.approx(1 / np.sqrt(784), rel=0.05)
    assert normal.biases[0].std() == pytest.approx(scaled.biases[0].std())  # biases stay N(0, 1)


def test_same_seed_same_weights_and_run():
    train = random_digits(60)
    a, b, c = ScratchNetwork(seed=7), ScratchNetwork(seed=7), ScratchNetwork(seed=8)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key])
    assert not np.array_equal(a.weights[0], c.weights[0])
    history_a, history_b = a.fit(train, epochs=2), b.fit(train, epochs=2)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key])
    assert [r["train_loss"] for r in history_a] == [r["train_loss"] for r in history_b]


def test_fit_continues_where_it_stopped():
    train = random_digits(40)
    once, twice = ScratchNetwork(seed=4), ScratchNetwork(seed=4)
    once.fit(train, epochs=2)
    twice.fit(train, epochs=1)
    twice.fit(train, epochs=1)
    np.testing.assert_array_equal(once.weights[0], twice.weights[0])


def test_history_records_and_callback():
    train, val = random_digits(30, seed=1), random_digits(20, seed=2)
    seen = []
    net = ScratchNetwork((784, 8, 10), seed=0)
    history = net.fit(train, val, epochs=3, batch_size=4, on_epoch=seen.append)
    assert seen == history
    assert [r["epoch"] for r in history] == [1, 2, 3]
    for record in history:
        assert set(record) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"}
        assert 0 <= record["val_acc"] <= 1 and record["val_loss"] > 0 and record["seconds"] >= 0
    assert net.fit(train, epochs=1)[0]["val_acc"] is None


@pytest.mark.parametrize(("cost", "output"), COMBINATIONS)
def test_learns_a_small_mnist_subset(mnist, cost, output):
    train, test = mnist.train_full.take(slice(0, 2000)), mnist.test.take(slice(0, 1000))
    lr = 3.0 if cost == "quadratic" else 0.5
    net = ScratchNetwork(cost=cost, output=output, init="scaled", l2=1.0, seed=0)
    chance = net.score(test.images, test.labels)
    history = net.fit(train, epochs=3, lr=lr)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert chance < 0.3
    assert net.score(test.images, test.labels) > 0.7


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_seed_recipe_learns(mnist, dtype):
    """Sigmoid + quadratic + N(0, 1) weights starts slowly (saturated units): 3000 images, 3 epochs, > 50%."""
    train, test = mnist.train_full.take(slice(0, 3000)), mnist.test.take(slice(0, 1000))
    net = ScratchNetwork(seed=0, dtype=dtype)
    net.fit(train, epochs=3)
    assert net.weights[0].dtype == np.dtype(dtype)
    assert net.score(test.images, test.labels) > 0.5


def test_state_dict_round_trip():
    train, probe = random_digits(50), random_digits(10, seed=9)
    trained = ScratchNetwork((784, 12, 10), output="softmax", seed=1)
    trained.fit(train, epochs=1)
    state = trained.state_dict()
    assert sorted(state) == ["biases.0", "biases.1", "weights.0", "weights.1"]
    state["weights.0"][:] = 0  # a copy: the network is untouched
    assert trained.weights[0].any()
    fresh = ScratchNetwork((784, 12, 10), output="softmax", seed=2)
    fresh.load_state_dict(trained.state_dict())
    np.testing.assert_array_equal(fresh.predict_proba(probe.images), trained.predict_proba(probe.images))


def test_load_state_dict_rejects_what_does_not_fit():
    net = ScratchNetwork((784, 12, 10))
    good = net.state_dict()
    wrong_shape = {**good, "weights.1": np.zeros((10, 13))}
    missing = {k: v for k, v in good.items() if k != "biases.1"}
    extra = {**good, "weights.2": np.zeros((10, 10))}
    integers = {**good, "biases.0": np.zeros(12, dtype=np.int64)}
    for state in (wrong_shape, missing, extra, integers):
        with pytest.raises(ModelError):
            net.load_state_dict(state)
    np.testing.assert_array_equal(net.weights[1], good["weights.1"])  # a failed load changes nothing


def test_get_params_rebuilds_the_model():
    net = ScratchNetwork((784, 20, 10), cost="cross-entropy", output="softmax", init="scaled", l2=5.0, seed=3)
    params = json.loads(json.dumps(net.get_params()))
    rebuilt = ScratchNetwork(**params)
    assert rebuilt.get_params() == net.get_params()
    np.testing.assert_array_equal(rebuilt.weights[0], net.weights[0])


@pytest.mark.parametrize("bad", [{"sizes": (784,)}, {"sizes": (784, 0, 10)}, {"cost": "hinge"},
                                 {"output": "relu"}, {"init": "xavier"}, {"l2": -1.0}, {"dtype": "float16"}])
def test_rejects_bad_hyper_parameters(bad):
    with pytest.raises(ModelError):
        ScratchNetwork(**bad)


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_input_shapes_and_types_agree(output):
    digits = random_digits(5)
    net = ScratchNetwork(output=output, seed=0)
    reference = net.predict_proba(digits.images)
    assert reference.shape == (5, 10)
    np.testing.assert_allclose(reference.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(net.predict_proba(digits.images.reshape(5, 784)), reference)
    np.testing.assert_array_equal(net.predict_proba(digits.images[:, None]), reference)
    np.testing.assert_allclose(net.predict_proba(digits.images / 255.0), reference, rtol=1e-5)
    np.testing.assert_allclose(net.predict_proba(digits.images[2]), reference[2:3], rtol=1e-5)
    np.testing.assert_allclose(net.predict_proba(digits.images[2].reshape(784)), reference[2:3], rtol=1e-5)
    predicted = net.predict(digits.images)
    assert predicted.dtype == np.int64
    np.testing.assert_array_equal(predicted, reference.argmax(axis=1))
    assert net.score(digits.images, predicted) == 1.0


@pytest.mark.parametrize("images", [np.zeros((3, 27, 27), np.uint8), np.full((2, 784), 2.0),
                                    np.full((2, 784), -0.5), np.full((1, 784), np.nan),
                                    np.full((1, 784), 300), np.zeros((2, 784), bool)])
def test_rejects_bad_images(images):
    with pytest.raises(DataError):
        ScratchNetwork().predict(images)


def test_rejects_bad_labels():
    digits = random_digits(4)
    with pytest.raises(DataError):
        ScratchNetwork().fit(Digits(digits.images, np.array([0, 1, 2, 10])), epochs=1)
    with pytest.raises(DataError):
        ScratchNetwork().score(digits.images, np.zeros(3, np.int64))
    with pytest.raises(DataError):
        ScratchNetwork().fit(digits.take(slice(0, 0)), epochs=1)
    with pytest.raises(DataError):
        ScratchNetwork().fit(digits, Digits(digits.images, digits.labels[:3]), epochs=1)


def test_vectorised_step_equals_the_per_example_loop_of_network_py():
    """The benchmark's faithful network.py loop and ScratchNetwork agree after an epoch from the same start."""
    path = Path(__file__).parents[1] / "benchmarks" / "scratch_per_sample.py"
    spec = importlib.util.spec_from_file_location("scratch_per_sample", path)
    textbook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(textbook)
    train = random_digits(95)  # 95: the last mini-batch is short, as network.py allows
    net = ScratchNetwork(textbook.SIZES, seed=5, dtype="float64")
    rng = np.random.default_rng(5)  # replays net's generator: initial weights, then the epoch's shuffle
    per_example = textbook.PerSampleNetwork(*initial_parameters(textbook.SIZES, "normal", rng, "float64"))
    net.fit(train, epochs=1, batch_size=textbook.BATCH_SIZE, lr=textbook.LR)
    data = [(x.reshape(-1, 1) / 255, np.eye(10)[y].reshape(-1, 1))
            for x, y in zip(train.images, train.labels, strict=True)]
    per_example.sgd_epoch(data, rng.permutation(len(train)))
    for ours, theirs in zip(net.weights + net.biases, per_example.weights + per_example.biases, strict=True):
        np.testing.assert_allclose(ours, theirs.reshape(ours.shape), rtol=1e-9, atol=1e-12)
