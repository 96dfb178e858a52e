"""The train/eval/models/recipes CLI as a user runs it: subprocesses, exit codes, one-line errors, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

CLI = [sys.executable, "-m", "digitlab.cli"]


def run(args, mnist_dir, **kw):
    env = {**os.environ, "DIGITLAB_DATA": str(mnist_dir)}
    return subprocess.run(CLI + args, capture_output=True, text=True, env=env, timeout=600, **kw)


def test_models_table_lists_every_model_with_size(mnist_dir):
    proc = run(["models", "--json"], mnist_dir)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert {"scratch", "mlp-312", "mlp-bp", "mlp-512", "lenet-lite", "cnn"} <= set(rows)
    assert rows["scratch"]["params"] == 784 * 30 + 30 + 30 * 10 + 10
    assert rows["mlp-512"]["macs"] == 784 * 512 + 512 * 512 + 512 * 10
    assert rows["lenet-lite"]["reproduces"] == "seed-001" and "97.26" in rows["lenet-lite"]["published"]


def test_recipes_json(mnist_dir):
    proc = run(["recipes", "--json"], mnist_dir)
    recipes = {r["name"]: r for r in json.loads(proc.stdout)}
    assert recipes["seed-001"]["batch_size"] == 16 and recipes["seed-001"]["lr"] == 1e-4
    assert recipes["seed-002"]["optimizer"] == "sgd" and recipes["seed-004"]["lr"] == 3.0


@pytest.mark.parametrize("args, message", [
    (["train", "nope"], "unknown model 'nope'"),
    (["train", "--recipe", "seed-999"], "unknown recipe 'seed-999'"),
    (["train", "mlp-512", "--optimizer", "rmsprop"], "optimizer 'rmsprop'"),
    (["train", "mlp-512", "--classes", "a,b"], "--classes takes comma-separated integers"),
    (["train", "mlp-512", "--target-acc", "99"], "--target-acc must be a fraction"),
    (["train", "mlp-512", "--dataset", "idx:/does/not/exist"], "not a directory"),
    (["train", "mlp-512", "--device", "tpu"], "unknown device 'tpu'"),
    (["eval", "/does/not/exist"], "not a model or run directory"),
])
def test_cli_errors_exit_nonzero_with_one_clear_line(args, message, mnist_dir, tmp_path):
    proc = run(args + ["--run-dir", str(tmp_path / "r")] if args[0] == "train" else args, mnist_dir)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_bad_flag_values_are_usage_errors(mnist_dir):
    proc = run(["train", "mlp-512", "--epochs", "0"], mnist_dir)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "epochs" in proc.stderr


def test_train_json_then_eval_json(mnist_dir, tmp_path):
    proc = run(["train", "mlp-512", "--epochs", "1", "--limit", "2000", "--run-dir", str(tmp_path / "r"), "--json"],
               mnist_dir)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {"run_dir", "model", "recipe", "epochs_run", "best_val_acc", "test_acc", "train_seconds",
            "time_to_target_s"} <= set(doc)
    assert doc["model"] == "mlp-512" and doc["epochs_run"] == 1 and doc["time_to_target_s"] is None
    proc = run(["eval", str(tmp_path / "r"), "--json"], mnist_dir)
    ev = json.loads(proc.stdout)
    assert ev["n"] == 10000 and abs(ev["accuracy"] - doc["test_acc"]) < 1e-9
    assert len(ev["per_class"]) == 10 and {"precision", "recall", "f1"} <= set(ev["per_class"][0])
    assert np.array(ev["confusion"]).shape == (10, 10) and np.array(ev["confusion"]).sum() == 10000
    text = run(["eval", str(tmp_path / "r")], mnist_dir).stdout
    assert "accuracy" in text.lower()


def test_resume_after_sigkill_gives_bit_identical_weights(mnist_dir, tmp_path):
    # One thread: the two runs must not pick different thread counts from a busy machine's free CPUs.
    args = ["train", "lenet-lite", "--epochs", "4", "--limit", "1500", "--batch-size", "32", "--lr", "3e-3",
            "--device", "cpu", "--threads", "1", "--json"]
    assert run(args + ["--run-dir", str(tmp_path / "straight")], mnist_dir).returncode == 0

    killed = tmp_path / "killed"
    env = {**os.environ, "DIGITLAB_DATA": str(mnist_dir)}
    proc = subprocess.Popen(CLI + args + ["--run-dir", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = killed / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "model.safetensors").exists()

    resumed = run(["train", "--resume", str(killed), "--json"], mnist_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["epochs_run"] == 4
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
