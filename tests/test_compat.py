"""Files written before the restructuring (issue 12) still work: models load and give the same probabilities,
and a run directory resumes. tests/data/saved-by-0.2.0 was written by digitlab 0.2.0 at commit 84e3e0c (the
last commit before the change): `digitlab train lenet-lite --epochs 2 --limit 500 --batch-size 32 --lr 3e-3
--threads 1` and `digitlab train scratch --epochs 1 --limit 500`, and the expected probabilities by that code's
``load_classifier(...).predict_proba`` on ``default_rng(0)`` images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import digitlab
from digitlab.training.state import FitState

SAVED = Path(__file__).parent / "data" / "saved-by-0.2.0"


@pytest.mark.parametrize("name", ["lenet-lite", "scratch"])
def test_a_model_saved_before_the_change_loads_and_reads_the_same(name):
    model = digitlab.load(SAVED / name)
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28), dtype=np.uint8)
    expected = np.array(json.loads((SAVED / "expected_probs.json").read_text())[name], dtype=np.float32)
    assert model.normalization.name in ("none", "mnist")
    np.testing.assert_allclose(model.predict_proba(images), expected, rtol=0, atol=1e-6)


def test_a_run_directory_written_before_the_change_resumes(mnist_dir, tmp_path, monkeypatch):
    from digitlab.training.engine import load_checkpoint
    from digitlab.training.run import run_training

    run = tmp_path / "run"
    shutil.copytree(SAVED / "run-lenet-lite", run)
    config = json.loads((run / "config.json").read_text())
    config["recipe"]["epochs"] = 3  # it finished 2: one more from the old checkpoint
    (run / "config.json").write_text(json.dumps(config))
    old = FitState.from_dict(load_checkpoint(run / "checkpoint.pt"))
    assert old.epoch == 2 and len(old.history) == 2 and old.best_state is not None
    monkeypatch.setenv("DIGITLAB_DATA", str(mnist_dir))

    result = run_training(None, resume=run, report=False)  # type: ignore[arg-type]  # the recipe comes from config

    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert result.history[:2] == old.history  # the old epochs kept as they were
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert result.test_acc > 0.25  # 500 images, 3 epochs: well above chance (0.1)


def test_fit_state_round_trips_by_name_and_ignores_other_keys():
    state = FitState(epoch=3, history=[{"epoch": 1}], best_val_acc=0.9, best_epoch=2, train_seconds=1.5,
                     time_to_target_s=1.0, threads={"train": 1, "eval": 2})
    doc = {**state.to_dict(), "optimizer": {}, "model": {}}  # a checkpoint holds more than the state
    assert FitState.from_dict(doc) == state
    assert "best_state" not in state.to_dict(weights=False)
    reordered = dict(reversed(list(state.to_dict().items())))
    assert FitState.from_dict(reordered) == state  # by name, not by position
