"""Hybrid quantum-classical models: seed 000's network, the 10-class model, their classical twins, and the
seed-000 / hybrid-qnn recipes trained end to end on real MNIST digits 0 and 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import digitlab
from digitlab.errors import ModelError
from digitlab.models.registry import create_model
from digitlab.training.recipes import get_recipe
from digitlab.training.run import RunOptions, run_training

IMAGES = torch.randn(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
CONVERGENCE_PNG = "hybrid_nn_training_convergence.png"


@pytest.mark.parametrize("name", ["hybrid-qnn", "hybrid-qnn-classical"])
def test_two_class_models_emit_p_and_one_minus_p_or_their_logs(name):
    torch.manual_seed(0)
    probs = create_model(name, outputs="probs").eval()
    logs = create_model(name, outputs="log-probs").eval()
    logs.load_state_dict(probs.state_dict())
    with torch.no_grad():
        p, log_p = probs(IMAGES), logs(IMAGES)
    assert p.shape == log_p.shape == (6, 2)
    assert torch.allclose(p.sum(1), torch.ones(6)) and ((p >= 0) & (p <= 1)).all()
    assert torch.allclose(log_p.softmax(1), p, atol=1e-5)  # what predict_proba computes from these outputs


def test_the_circuit_is_in_the_path_p_is_one_plus_sin_theta_over_two():
    model = create_model("hybrid-qnn", outputs="probs").eval()
    with torch.no_grad():
        theta = model.fc2(model.body(IMAGES))[:, 0]
        p = model(IMAGES)[:, 0]
    assert torch.allclose(p, (1 + torch.sin(theta)) / 2, atol=1e-6)


@pytest.mark.parametrize("backend", ["exact", "shots"])
def test_gradients_reach_the_cnn_through_the_quantum_layer(backend):
    torch.manual_seed(0)
    model = create_model("hybrid-qnn", backend=backend)
    torch.nn.functional.cross_entropy(model(IMAGES), torch.tensor([0, 1] * 3)).backward()
    assert model.body.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["hybrid-qnn10", "hybrid-qnn10-classical"])
def test_ten_class_models_map_images_to_ten_logits(name):
    model = create_model(name)
    out = model(IMAGES)
    assert out.shape == (6, 10)
    out.sum().backward()
    assert model.angles.weight.grad.abs().sum() > 0  # the layer before the circuit learns through it


def test_bad_hybrid_arguments_are_model_errors():
    with pytest.raises(ModelError, match="two classes"):
        create_model("hybrid-qnn", num_classes=10)
    with pytest.raises(ModelError, match="classical twin has no quantum layer"):
        create_model("hybrid-qnn-classical", shots=100)
    with pytest.raises(ModelError, match="outputs must be"):
        create_model("hybrid-qnn", outputs="logits")
    with pytest.raises(ModelError, match="unknown quantum backend"):
        create_model("hybrid-qnn10", backend="qiskit")


def test_seed_000_recipe_learns_in_one_epoch_with_the_seeds_negative_loss(mnist_dir, tmp_path):
    recipe = get_recipe("seed-000").override(epochs=2)
    result = run_training(recipe, RunOptions(device="cpu", data_dir=str(mnist_dir)), tmp_path / "run")
    first, second = result.history
    assert first["val_acc"] >= 0.99 and result.test_acc >= 0.99
    # NLLLoss on probabilities: the "loss" is -p[target], in [-1, 0], falling towards -1.
    assert -1 <= second["train_loss"] < first["train_loss"] < 0
    assert (tmp_path / "run" / CONVERGENCE_PNG).stat().st_size > 0
    report = (tmp_path / "run" / "report.md").read_text()
    assert CONVERGENCE_PNG in report and "converges to -1" in report
    # Outputs are probabilities: the saved model returns them as they are, and reloads identically.
    reloaded = digitlab.load(tmp_path / "run")
    images = np.zeros((3, 28, 28), np.uint8)
    assert np.allclose(reloaded.predict_proba(images), result.model.predict_proba(images), atol=1e-6)
    assert np.allclose(reloaded.predict_proba(images).sum(1), 1, atol=1e-6)


@pytest.mark.parametrize("backend", ["exact", "shots"])
def test_default_hybrid_recipe_uses_a_true_log_likelihood(backend, mnist_dir, tmp_path):
    recipe = get_recipe("hybrid-qnn")
    recipe = recipe.override(epochs=1, model_args={**recipe.model_args, "backend": backend})
    result = run_training(recipe, RunOptions(device="cpu", data_dir=str(mnist_dir)), tmp_path / "run")
    assert result.history[0]["train_loss"] > 0  # cross-entropy, not -p
    assert result.best_val_acc >= 0.98 and result.test_acc >= 0.98
    saved = json.loads((tmp_path / "run" / "model.json").read_text())
    assert saved["args"]["backend"] == backend and saved["outputs"] == "logits"


def test_cli_trains_the_hybrid_model_on_pennylane(mnist_dir, tmp_path):
    pytest.importorskip("pennylane", reason="PennyLane is not installed: pip install 'digitlab[quantum]'")
    env = {**os.environ, "DIGITLAB_DATA": str(mnist_dir)}
    proc = subprocess.run([sys.executable, "-m", "digitlab.cli", "train", "hybrid-qnn", "--quantum-backend",
                           "pennylane", "--epochs", "1", "--per-class", "32", "--run-dir", str(tmp_path / "run"),
                           "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["model"] == "hybrid-qnn" and doc["epochs_run"] == 1 and doc["test_acc"] > 0.5
    assert json.loads((tmp_path / "run" / "model.json").read_text())["args"]["backend"] == "pennylane"


def test_shot_noise_is_reproducible_and_a_resumed_run_ends_bit_identical(mnist_dir, tmp_path):
    from digitlab.training.engine import CHECKPOINT, fit, load_checkpoint
    from digitlab.training.run import prepare_data

    recipe = get_recipe("seed-000")
    recipe = recipe.override(model_args={**recipe.model_args, "backend": "shots"}, per_class=100)
    train, val, _, _ = prepare_data(recipe, str(mnist_dir))

    def train_model(epochs, **kw):  # noqa: ANN001, ANN003, ANN202
        torch.manual_seed(recipe.seed)
        model = create_model("hybrid-qnn", **recipe.model_args)
        fit(model, recipe.override(epochs=epochs), train, val, device=torch.device("cpu"), threads=1, **kw)
        return model.state_dict()

    straight = train_model(2)
    train_model(1, run_dir=tmp_path)  # interrupted after one epoch
    resumed = train_model(2, resume=load_checkpoint(tmp_path / CHECKPOINT))
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
