"""The training engine, recipes, artifacts and the Python API, on small subsets of real MNIST."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

import digitlab
from digitlab.errors import DigitlabError, ModelError
from digitlab.models.registry import MODELS, create_model
from digitlab.training.recipes import RECIPES, get_recipe
from digitlab.training.run import RunOptions, run_training

RUN_FILES = ["config.json", "model.safetensors", "model.json", "metrics.jsonl", "report.md", "report.json",
             "curves.png", "confusion.png", "errors.png"]


@pytest.mark.parametrize("name", [n for n, s in MODELS.items() if s.family == "torch"])
def test_every_torch_model_maps_images_to_ten_logits(name):
    import torch

    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.zeros(3, 1, 28, 28))
    assert out.shape == (3, MODELS[name].defaults.get("num_classes", 10))


def test_unknown_model_and_bad_arguments_are_model_errors():
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        create_model("nope")
    with pytest.raises(ModelError, match="bad arguments"):
        create_model("mlp-512", width=3)


def test_recipe_override_validates():
    recipe = get_recipe("seed-001")
    assert recipe.override(epochs=3).epochs == 3
    assert recipe.override(epochs=None) == recipe
    with pytest.raises(DigitlabError, match="optimizer 'rmsprop'"):
        recipe.override(optimizer="rmsprop")
    with pytest.raises(DigitlabError, match="unknown recipe field"):
        recipe.override(colour="blue")


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_runs_a_short_training_and_writes_its_run(name, mnist_dir, tmp_path):
    recipe = get_recipe(name).override(epochs=1, limit=600, compile=False)
    if recipe.dataset == "mnist-pieces":  # built on first use from 7,000 photos: a small one here
        from digitlab.data import load_dataset
        from digitlab.data.pieces import make_pieces, write_pieces

        mnist = load_dataset("mnist", mnist_dir)
        pieces = write_pieces(tmp_path / "pieces", make_pieces(mnist.train_full, 120, seed=0),
                              make_pieces(mnist.test, 20, seed=1))
        recipe = recipe.override(dataset=f"idx:{pieces}", val_size=100)
    result = run_training(recipe, RunOptions(data_dir=str(mnist_dir)), tmp_path / "run")
    for f in RUN_FILES:
        assert (tmp_path / "run" / f).stat().st_size > 0, f
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"} <= set(json.loads(lines[0]))
    assert 0.0 <= result.test_acc <= 1.0 and len(result.history) == 1
    # The saved model reloads through the registry and predicts exactly as the trained one.
    reloaded = digitlab.load(tmp_path / "run")
    images = np.asarray(result.model.predict_proba(np.zeros((2, 28, 28), np.uint8)))
    assert np.allclose(reloaded.predict_proba(np.zeros((2, 28, 28), np.uint8)), images, atol=1e-6)


def test_a_model_gets_as_many_outputs_as_the_dataset_has_classes():
    import torch

    from digitlab.training.run import build_model

    for name in ("cnn", "digitnet"):  # a recipe written for 10 classes, on a 2-class dataset
        model, args = build_model(get_recipe("cnn").override(model=name, model_args={}), num_classes=2)
        assert args["num_classes"] == 2 and model.eval()(torch.zeros(1, 1, 28, 28)).shape == (1, 2)
    model, args = build_model(get_recipe("cnn"), num_classes=10)  # MNIST's ten: the model's own default kept
    assert "num_classes" not in args


def test_training_learns(mnist_dir, tmp_path):
    result = digitlab.train("lenet-lite", epochs=1, limit=4000, lr=3e-3, batch_size=32, run_dir=tmp_path / "r",
                            data_dir=str(mnist_dir), device="cpu")
    assert result.test_acc > 0.85, result.test_acc
    assert result.best_val_acc == max(r["val_acc"] for r in result.history)


def test_same_command_twice_gives_bit_identical_weights(mnist_dir, tmp_path):
    runs = []
    for i in range(2):
        digitlab.train("cnn", limit=1000, run_dir=tmp_path / f"r{i}", data_dir=str(mnist_dir), device="cpu",
                       threads=1)  # not a thread count each run picks from a busy machine's free CPUs
        runs.append(load_file(str(tmp_path / f"r{i}" / "model.safetensors")))
    assert runs[0].keys() == runs[1].keys()
    for key in runs[0]:
        assert np.array_equal(runs[0][key], runs[1][key]), key
    other = digitlab.train("cnn", limit=1000, seed=1, run_dir=tmp_path / "r3", data_dir=str(mnist_dir))
    changed = load_file(str(other.run_dir / "model.safetensors"))
    assert any(not np.array_equal(changed[k], runs[0][k]) for k in runs[0]), "a different seed changed nothing"


def test_target_accuracy_stops_early_and_records_time(mnist_dir, tmp_path):
    result = digitlab.train("lenet-lite", epochs=5, limit=3000, lr=3e-3, batch_size=32, target_acc=0.5,
                            run_dir=tmp_path / "r", data_dir=str(mnist_dir), device="cpu")
    assert len(result.history) < 5
    assert result.time_to_target_s is not None and result.time_to_target_s > 0
    assert result.history[-1]["val_acc"] >= 0.5


def test_loaded_model_accepts_uint8_float_single_and_batches(mnist, mnist_dir, tmp_path):
    result = digitlab.train("mlp-512", epochs=1, limit=2000, run_dir=tmp_path / "r", data_dir=str(mnist_dir))
    model = digitlab.load(result.run_dir)
    images = mnist.test.images[:20]
    p_u8 = model.predict_proba(images)
    assert p_u8.shape == (20, 10) and np.allclose(p_u8.sum(1), 1, atol=1e-5)
    assert np.allclose(model.predict_proba(images.astype(np.float32) / 255), p_u8, atol=1e-5)
    assert np.allclose(model.predict_proba(images.astype(np.float64)), p_u8, atol=1e-5)  # 0-255 floats
    assert model.predict(images[0]).shape == (1,)
    with pytest.raises(DigitlabError, match="shape"):
        model.predict(np.zeros((3, 27, 27)))
    evaluation = digitlab.evaluate(model, split="test", data_dir=str(mnist_dir))
    assert evaluation.n == 10000 and abs(evaluation.accuracy - result.test_acc) < 1e-9


def test_load_rejects_what_is_not_a_model(tmp_path):
    with pytest.raises(ModelError, match="not a model or run directory"):
        digitlab.load(tmp_path)
    (tmp_path / "model.json").write_text('{"format": "digitlab-model", "model": "mlp-512", "args": {}}')
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="unreadable weights"):
        digitlab.load(tmp_path)


def test_existing_run_dir_is_not_overwritten(mnist_dir, tmp_path):
    digitlab.train("mlp-512", epochs=1, limit=200, run_dir=tmp_path / "r", data_dir=str(mnist_dir))
    with pytest.raises(DigitlabError, match="already holds a run"):
        digitlab.train("mlp-512", epochs=1, limit=200, run_dir=tmp_path / "r", data_dir=str(mnist_dir))


class _Interrupt(Exception):
    pass


def test_resume_with_augmentation_and_ema_is_bit_identical(mnist, tmp_path):
    """In-process variant of the SIGKILL test, covering the augmentation and EMA state in the checkpoint."""
    import torch

    from digitlab.training.engine import CHECKPOINT, fit, load_checkpoint

    recipe = get_recipe("seed-001").override(epochs=3, lr=3e-3, batch_size=64, augment={"rotate": 10, "shift": 2},
                                             ema=0.9)
    train, val = mnist.train_full.take(slice(0, 640)), mnist.test.take(slice(0, 200))

    def model():
        torch.manual_seed(0)
        return create_model("lenet-lite")

    straight = model()
    fit(straight, recipe, train, val, device=torch.device("cpu"), threads=1)

    def stop_after_first(record):
        if record["epoch"] == 1:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        fit(model(), recipe, train, val, device=torch.device("cpu"), threads=1, run_dir=tmp_path,
            on_epoch=stop_after_first)
    resumed = model()
    torch.manual_seed(123)  # the checkpoint, not the ambient RNG, must decide what happens next
    fit(resumed, recipe, train, val, device=torch.device("cpu"), threads=1,
        resume=load_checkpoint(tmp_path / CHECKPOINT))
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_the_engine_tells_the_augmenter_which_digit_each_image_shows(mnist, monkeypatch):
    """Class styles (a footed 1) need the digit, not the class index: they differ in a k-class run."""
    import torch

    from digitlab.training import engine

    seen = []

    def spy(x, generator, digits=None):
        seen.append(digits.clone())
        return x

    monkeypatch.setattr(engine.Affine, "from_recipe", staticmethod(lambda spec: spy))
    recipe = get_recipe("seed-001").override(epochs=1, batch_size=64, augment={"footed_one": 1.0})
    train = mnist.train_full.take(slice(0, 2000)).select(classes=[1, 7]).relabel([1, 7])  # labels 0, 1
    val = mnist.test.take(slice(0, 500)).select(classes=[1, 7]).relabel([1, 7])
    engine.fit(create_model("lenet-lite", num_classes=2), recipe, train, val, device=torch.device("cpu"), threads=1)
    shown = torch.cat(seen)
    assert set(train.labels.tolist()) == {0, 1} and set(shown.tolist()) == {1, 7}
    assert (shown == 1).sum().item() == (train.labels == 0).sum()  # every image, once, as its digit


def test_affine_augmentation_moves_ink_but_keeps_background():
    import torch

    from digitlab.training.augment import Affine

    x = torch.full((8, 1, 28, 28), -0.42)
    x[:, :, 10:18, 12:16] = 2.8
    out = Affine(rotate=15, scale=0.1, shift=3)(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert torch.allclose(out[:, :, 0, 0], torch.tensor(-0.42))  # border padding = background
    assert not torch.allclose(out, x)
    same = Affine(rotate=15, scale=0.1, shift=3)(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, same)


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5, 7])
def test_onecycle_schedule_survives_tiny_runs(steps):
    import torch

    from digitlab.training.engine import make_scheduler

    recipe = get_recipe("recognizer")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=recipe.lr)
    scheduler = make_scheduler(optimizer, recipe, steps)
    for _ in range(steps):
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    assert optimizer.param_groups[0]["lr"] <= recipe.lr
