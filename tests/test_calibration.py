"""Calibrated probabilities (issue 15): ECE and risk-coverage on known cases, temperature scaling fitted and applied
by every runtime, old model files unchanged, the shipped models calibrated, `digitlab calibrate` and `eval`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from digitlab.errors import ModelError
from digitlab.inference.calibration import calibrate, fit_temperature, nll, softmax, temperature_of
from digitlab.inference.classifier import PRETRAINED_DIR, load_classifier, load_ensemble
from digitlab.inference.inputs import as_unit_images
from digitlab.metrics.calibration import (
    calibration_summary,
    expected_calibration_error,
    reliability_bins,
    risk_coverage,
)
from digitlab.vision.reader import reading_from_probs

CLI = [sys.executable, "-m", "digitlab.cli"]
CLASSES = tuple(str(i) for i in range(10))


def rows(top: list[float], n_classes: int = 2) -> np.ndarray:
    """Probability rows whose class 0 has probability ``top`` (the rest shared evenly)."""
    top = np.asarray(top, dtype=np.float64)
    probs = np.repeat(((1 - top) / (n_classes - 1))[:, None], n_classes, axis=1)
    probs[:, 0] = top
    return probs


# ------------------------------------------------------------------------------------------ ECE, risk-coverage


def test_ece_is_zero_when_each_bin_is_right_as_often_as_it_says():
    probs = rows([0.8] * 10 + [0.6] * 5)
    labels = np.array([0] * 8 + [1] * 2 + [0] * 3 + [1] * 2)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)


def test_ece_weights_each_bins_gap_by_its_share():
    # 10 images at 0.9 that are all right (gap 0.1), 5 at 0.7 that are all wrong (gap 0.7): (10*0.1 + 5*0.7)/15.
    probs = rows([0.9] * 10 + [0.7] * 5)
    labels = np.array([0] * 10 + [1] * 5)
    assert expected_calibration_error(probs, labels) == pytest.approx((10 * 0.1 + 5 * 0.7) / 15)
    assert expected_calibration_error(rows([1.0] * 4), np.array([1] * 4)) == pytest.approx(1.0)


def test_reliability_bins_are_fifteen_right_closed_intervals():
    bins = reliability_bins(rows([9 / 15, 9 / 15 + 1e-9, 1.0, 0.5]), np.array([0, 1, 0, 0]))
    assert len(bins) == 15 and bins[0]["lower"] == 0 and bins[-1]["upper"] == 1
    assert [i for i, b in enumerate(bins) if b["count"]] == [7, 8, 9, 14]  # 9/15 closes bin 8, (8/15, 9/15]
    assert bins[8]["accuracy"] == 1.0 and bins[9]["accuracy"] == 0.0 and bins[8]["confidence"] == 9 / 15
    assert bins[5]["count"] == 0 and bins[5]["accuracy"] is None


def test_risk_coverage_keeps_the_most_confident_first():
    probs = rows([0.99, 0.6, 0.95, 0.7, 0.9])  # right, wrong, right, right, wrong (label 1 = wrong)
    labels = np.array([0, 1, 0, 0, 1])
    coverage, accuracy, threshold = risk_coverage(probs, labels)
    assert coverage.tolist() == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert accuracy.tolist() == pytest.approx([1, 1, 2 / 3, 3 / 4, 3 / 5])  # order 0.99, 0.95, 0.9, 0.7, 0.6
    assert threshold.tolist() == pytest.approx([0.99, 0.95, 0.9, 0.7, 0.6])
    summary = calibration_summary(probs, labels, target=0.99)
    assert summary.accuracy_at(1.0) == pytest.approx(0.6) and summary.accuracy_at(0.4) == 1.0
    assert summary.coverage_for() == pytest.approx(0.4) and summary.threshold_for() == pytest.approx(0.95)
    assert summary.coverage_for(1.01) == 0.0 and summary.threshold_for(1.01) is None
    table = {row["coverage"]: row for row in summary.coverage_table((1.0, 0.8))}
    assert table[1.0]["errors"] == 2 and table[0.8]["accuracy"] == pytest.approx(0.75)
    doc = json.loads(json.dumps(summary.to_json(), allow_nan=False))
    assert doc["coverage_at_target"] == pytest.approx(0.4) and len(doc["bins"]) == 15


def test_evaluation_reports_ece_and_coverage():
    from digitlab.metrics.evaluation import evaluate_probs

    probs = rows([0.9] * 10 + [0.7] * 5, 10)
    labels = np.array([0] * 10 + [1] * 5)
    ev = evaluate_probs(labels, probs)
    doc = json.loads(json.dumps(ev.to_json(), allow_nan=False))
    assert doc["ece"] == pytest.approx(expected_calibration_error(probs, labels))
    assert [row["coverage"] for row in doc["coverage"]] == [1.0, 0.99, 0.98, 0.95, 0.9]
    assert {"coverage_at_target", "min_confidence_at_target", "reliability"} <= set(doc)
    assert f"ECE {doc['ece']:.2%}" in ev.summary_text() and "coverage  accuracy" in ev.summary_text()


# ------------------------------------------------------------------------------------------ temperature scaling


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20000, 10))
    for true_t in (0.5, 2.0):
        p = softmax(logits, true_t)
        labels = (p.cumsum(axis=1) > rng.random((len(p), 1))).argmax(axis=1)  # drawn from softmax(z / T)
        t = fit_temperature(logits, labels)
        assert t == pytest.approx(true_t, rel=0.05)
        assert nll(logits, labels, t) <= min(nll(logits, labels, t * 1.02), nll(logits, labels, t / 1.02))


def test_temperature_never_changes_a_prediction():
    logits = np.random.default_rng(1).normal(0, 4, (500, 10)).astype(np.float32)
    for t in (0.1, 0.43, 3.0):
        assert (softmax(logits, t).argmax(axis=1) == logits.argmax(axis=1)).all()


def test_temperature_of_ignores_probability_heads_and_rejects_nonsense():
    assert temperature_of({}) == 1.0
    assert temperature_of({"calibration": {"temperature": 0.5}}) == 0.5
    assert temperature_of({"calibration": {"temperature": 0.5}, "outputs": "probs"}) == 1.0
    with pytest.raises(ModelError, match="positive"):
        temperature_of({"calibration": {"temperature": -1}})


@pytest.fixture
def old_default(tmp_path):
    """The shipped default as it was before calibration: its model.json without the entry (weights, ONNX kept)."""
    directory = tmp_path / "old"
    shutil.copytree(PRETRAINED_DIR / "default", directory)
    meta = json.loads((directory / "model.json").read_text())
    del meta["calibration"]
    (directory / "model.json").write_text(json.dumps(meta, indent=2))
    return directory


def test_old_model_files_give_the_networks_own_probabilities(old_default, mnist):
    import torch

    images = mnist.test.images[:64]
    old = load_classifier(old_default)
    assert "calibration" not in old.meta
    x = torch.from_numpy(as_unit_images(images)).unsqueeze(1)
    with torch.inference_mode():
        expected = torch.softmax(old.module(old.normalization.apply(x)), dim=1).numpy()
    assert np.allclose(old.predict_proba(images), expected, atol=1e-6)
    assert np.array_equal(old.uncalibrated_proba(images), old.predict_proba(images))
    # The calibrated shipped file: the same network, probabilities divided by its temperature.
    new = load_classifier("default")
    assert np.allclose(new.uncalibrated_proba(images), expected, atol=1e-6)
    t = new.meta["calibration"]["temperature"]
    assert np.allclose(new.predict_proba(images), softmax(new.logits(as_unit_images(images)), t), atol=1e-6)
    assert (new.predict(images) == old.predict(images)).all()


def test_every_runtime_applies_the_temperature(mnist):
    from digitlab.inference.onnx_runtime import OnnxRuntimeClassifier, to_onnx_runtime

    pytest.importorskip("onnxruntime")
    images = mnist.test.images[:64]
    torch_model = load_classifier("default", runtime="torch")
    reference = torch_model.predict_proba(images)
    assert not np.allclose(reference, torch_model.uncalibrated_proba(images), atol=1e-3)  # T changes them
    from_file = load_classifier("default", runtime="auto")  # model.onnx: its weights check still holds
    assert isinstance(from_file, OnnxRuntimeClassifier)
    assert np.allclose(from_file.predict_proba(images), reference, atol=1e-5)
    assert np.allclose(to_onnx_runtime(torch_model).predict_proba(images), reference, atol=1e-5)
    members = [load_classifier(n) for n in ("default", "default-s1", "default-s2")]
    assert np.allclose(load_ensemble(3).predict_proba(images),
                       np.mean([m.predict_proba(images) for m in members], axis=0), atol=1e-6)


def test_the_numpy_network_is_calibrated_on_its_log_probabilities(mnist):
    from digitlab.data.datasets import Digits
    from digitlab.inference.classifier import NumpyClassifier, wrap
    from digitlab.models.registry import create_model

    model = wrap(create_model("scratch"), "scratch", {}, CLASSES, "none")
    assert isinstance(model, NumpyClassifier)
    images = mnist.test.images[:200]
    before = model.predict_proba(images)
    entry = calibrate(model, Digits(images, mnist.test.labels[:200]))
    after = model.predict_proba(images)
    expected = before ** (1 / entry["temperature"])
    assert np.allclose(after, expected / expected.sum(axis=1, keepdims=True), atol=1e-5)
    assert np.allclose(model.uncalibrated_proba(images), before, atol=1e-6)


def test_calibrate_sets_the_entry_and_refuses_what_it_cannot_scale(mnist, tmp_path):
    from digitlab.data.datasets import Digits

    val = Digits(mnist.train_full.images[-500:], mnist.train_full.labels[-500:])
    model = load_classifier(PRETRAINED_DIR / "default")
    entry = calibrate(model, val)
    assert model.meta["calibration"] == entry
    assert set(entry) >= {"method", "temperature", "fitted_on", "n", "ece_before", "ece_after"}
    assert entry["method"] == "temperature" and entry["fitted_on"] == "val" and entry["n"] == 500
    model.save(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "model.json").read_text())["calibration"] == entry
    with pytest.raises(ModelError, match="ensemble"):
        calibrate(load_ensemble(2), val)
    model.meta["outputs"] = "probs"
    with pytest.raises(ModelError, match="logits"):
        calibrate(model, val)


def test_the_shipped_models_are_calibrated_on_validation(mnist):
    """Each shipped model's temperature lowers its ECE on the validation split it was fitted on, and on the
    test split (never seen by the fit) it meets the issue's goal of ECE <= 1%."""
    _, val = mnist.split_validation()
    for name in ("default", "default-s1", "default-s2"):
        model = load_classifier(name)
        entry = model.meta["calibration"]
        assert entry["fitted_on"] == "val" and entry["n"] == len(val) == model.meta["data"]["val"]
        after = expected_calibration_error(model.predict_proba(val.images), val.labels)
        before = expected_calibration_error(model.uncalibrated_proba(val.images), val.labels)
        assert after < before / 5, (name, before, after)
        assert after == pytest.approx(entry["ece_after"], abs=1e-4)
    test_ece = expected_calibration_error(load_classifier("default").predict_proba(mnist.test.images),
                                          mnist.test.labels)
    assert test_ece <= 0.01, test_ece


# ------------------------------------------------------------------------------------------ the reject option


def test_a_reading_is_accepted_when_its_confidence_reaches_min_confidence():
    probs = np.array([rows([0.94], 10)[0], rows([0.94], 10)[0]])  # each digit 94%: the number 88.36%
    kept = reading_from_probs(CLASSES, probs, [None, None], min_confidence=0.9)
    assert kept.digits == "00" and all(item.accepted for item in kept.items)
    assert kept.confidence == pytest.approx(0.94 ** 2) and kept.accepted is False
    assert reading_from_probs(CLASSES, probs, [None, None], min_confidence=0.88).accepted is True
    doubtful = reading_from_probs(CLASSES, np.array([rows([0.94], 10)[0], rows([0.5], 10)[0]]), [None, None],
                                  min_confidence=0.9)
    assert doubtful.digits == "0?" and doubtful.items[1].digit == 0 and not doubtful.items[1].accepted
    assert not doubtful.accepted and doubtful.to_json()["accepted"] is False
    assert doubtful.to_json()["items"][1]["accepted"] is False
    unasked = reading_from_probs(CLASSES, probs, [None, None])
    assert unasked.accepted and all(item.accepted for item in unasked.items)


# ------------------------------------------------------------------------------------------ the commands


def test_calibrate_command_writes_the_entry_and_keeps_the_onnx_file(old_default):
    from digitlab.inference.onnx_runtime import load_onnx_file

    done = subprocess.run([*CLI, "calibrate", str(old_default), "--json"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)
    meta = json.loads((old_default / "model.json").read_text())
    assert meta["calibration"] == {k: v for k, v in entry.items() if k != "model"}
    assert meta["calibration"]["temperature"] == pytest.approx(
        json.loads((PRETRAINED_DIR / "default" / "model.json").read_text())["calibration"]["temperature"])
    pytest.importorskip("onnxruntime")
    assert load_onnx_file(old_default, meta) is not None  # model.json changed, the weights did not
    bad = subprocess.run([*CLI, "calibrate", str(old_default), "--split", "test"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "calibrate on val" in bad.stderr and "Traceback" not in bad.stderr


def test_eval_reports_ece_and_coverage_and_writes_the_plots(tmp_path, mnist_dir):
    done = subprocess.run([*CLI, "eval", "default", "--data-dir", str(mnist_dir), "--plots", str(tmp_path),
                           "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ece"] <= 0.01 and doc["calibration"]["method"] == "temperature"
    assert doc["coverage"][0]["coverage"] == 1.0 and doc["coverage"][0]["accuracy"] == doc["accuracy"]
    for name in ("reliability.png", "risk_coverage.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
