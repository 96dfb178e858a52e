"""The one fit protocol (training/fit.py): the NumPy network gets what the torch engine has — the same history
records, early stop at a target on val or test, best-epoch selection on validation, checkpoint and resume."""

from __future__ import annotations

import numpy as np
import pytest

import digitlab
from digitlab.models.registry import create_model
from digitlab.training.fit import fit
from digitlab.training.recipes import get_recipe
from digitlab.training.run_dir import RunDir
from digitlab.training.state import Target

RECORD_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"}


class _Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def small(mnist):
    return mnist.train_full.take(slice(0, 2000)), mnist.test.take(slice(0, 500)), mnist.test.take(slice(500, 1000))


def test_both_families_write_the_same_records(small):
    train, val, _ = small
    numpy_state = fit(create_model("scratch", seed=0), get_recipe("seed-004").override(epochs=2), train, val)
    torch_state = fit(create_model("lenet-lite"), get_recipe("seed-001").override(epochs=2, lr=3e-3), train, val,
                      device="cpu", plan={"train": 1, "eval": 1})
    for state in (numpy_state, torch_state):
        assert [r["epoch"] for r in state.history] == [1, 2]
        assert all(RECORD_KEYS <= set(r) for r in state.history)
        assert state.train_seconds == pytest.approx(sum(r["seconds"] for r in state.history))


def test_numpy_fit_stops_at_a_target_on_val_or_test(small):
    train, val, test = small
    recipe = get_recipe("seed-004").override(epochs=10)
    on_val = fit(create_model("scratch", seed=0), recipe, train, val, target=Target(0.5, "val"))
    assert len(on_val.history) < 10 and on_val.history[-1]["val_acc"] >= 0.5
    assert on_val.time_to_target_s == pytest.approx(on_val.train_seconds)
    on_test = fit(create_model("scratch", seed=0), recipe, train, val, target=Target(0.5, "test"), test=test)
    assert on_test.history[-1]["test_acc_for_target"] >= 0.5 and len(on_test.history) < 10
    with pytest.raises(digitlab.errors.DigitlabError, match="needs the test split"):
        fit(create_model("scratch", seed=0), recipe, train, val, target=Target(0.5, "test"))


def test_numpy_fit_keeps_the_best_epoch_by_validation(small):
    train, val, _ = small
    net = create_model("scratch", seed=0)
    # eta 30 on the quadratic cost: accuracy jumps around, so the last epoch is rarely the best
    state = fit(net, get_recipe("seed-004").override(epochs=6, lr=30.0), train, val)
    best = max(state.history, key=lambda r: r["val_acc"])
    assert state.best_epoch == best["epoch"] and state.best_val_acc == best["val_acc"]
    assert net.score(val.images, val.labels) == pytest.approx(best["val_acc"])


def test_an_interrupted_numpy_fit_resumes_bit_identical(small, tmp_path):
    train, val, _ = small
    recipe = get_recipe("seed-004").override(epochs=3)
    straight = create_model("scratch", seed=0)
    fit(straight, recipe, train, val, plan={"train": 1, "eval": 1})

    def stop_after_first(record: dict) -> None:
        if record["epoch"] == 1:
            raise _Interrupt

    run = RunDir(tmp_path)
    with pytest.raises(_Interrupt):
        fit(create_model("scratch", seed=0), recipe, train, val, run_dir=run, on_epoch=stop_after_first,
            plan={"train": 1, "eval": 1})
    assert run.checkpoint("numpy").exists() and len(run.read_metrics()) == 1
    resumed = create_model("scratch", seed=5)  # other weights and RNG: the checkpoint must restore both
    state = fit(resumed, recipe, train, val, run_dir=run, resume=True, plan={"train": 1, "eval": 1})
    assert [r["epoch"] for r in state.history] == [1, 2, 3] and len(run.read_metrics()) == 3
    for key, value in straight.state_dict().items():
        assert np.array_equal(value, resumed.state_dict()[key]), key


def test_a_run_killed_before_its_first_checkpoint_starts_over(mnist_dir, tmp_path):
    from digitlab.training.run import RunOptions, run_training

    recipe = get_recipe("seed-004").override(epochs=1, limit=500)
    run = RunDir(tmp_path / "run")
    run.write_config({"recipe": recipe.to_json(), "options": RunOptions(data_dir=str(mnist_dir)).__dict__})
    result = run_training(recipe, resume=run.path, report=False)
    assert len(result.history) == 1 and (run / "model.safetensors").exists()
