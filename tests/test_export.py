"""Deploy formats end to end on small trained models: export, check with each format's own runtime, compare.

The models are trained here in a few seconds (one pass over 10k images) so that accuracy figures mean something;
the goals asserted are the issue's: fp32 formats agree on every argmax with |logit diff| <= 1e-4, quantised
formats stay within 0.1 point of PyTorch fp32 accuracy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from digitlab.errors import ModelError
from digitlab.export import FORMATS, export_model
from digitlab.export.check import FP32_MAX_ABS_DIFF, INT8_MAX_ACCURACY_DROP, check_export, reference_logits
from digitlab.inference.classifier import load_classifier
from export_helpers import trained_model_dir

CLI = [sys.executable, "-m", "digitlab.cli"]
CORE_FORMATS = [f for f in FORMATS if f != "hls4ml"]  # hls4ml is an optional extra, tested below when present


@pytest.fixture(scope="module")
def lenet_dir(mnist, tmp_path_factory):
    return trained_model_dir("lenet-lite", ("none", 0.0, 1.0), mnist, tmp_path_factory)


@pytest.fixture(scope="module")
def mlp_dir(mnist, tmp_path_factory):  # MNIST normalisation: exercises the folded mean in the C input layer
    return trained_model_dir("mlp-312", ("mnist", 0.1307, 0.3081), mnist, tmp_path_factory)


def run_cli(args, mnist_dir, **kw):
    env = {**os.environ, "DIGITLAB_DATA": str(mnist_dir)}
    return subprocess.run(CLI + args, capture_output=True, text=True, env=env, timeout=900, **kw)


def assert_goal(result: dict) -> None:
    if FORMATS[result["format"]].quantized:
        assert result["accuracy"] >= result["reference_accuracy"] - INT8_MAX_ACCURACY_DROP, result
    else:
        assert result["agreement"] == 1.0 and result["max_abs_diff"] <= FP32_MAX_ABS_DIFF, result
    assert result["goal_met"] is True


@pytest.mark.parametrize("fmt", CORE_FORMATS)
def test_cli_exports_and_checks_every_format(fmt, lenet_dir, mnist, mnist_dir, tmp_path):
    out = tmp_path / f"lenet{FORMATS[fmt].suffix}"
    proc = run_cli(["export", str(lenet_dir), "--format", fmt, "--out", str(out), "--check", "--json"], mnist_dir)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["format"] == fmt and result["path"] == str(out) and out.exists()
    assert result["images"] == len(mnist.test)
    # The PyTorch figure is the model's own accuracy, computed independently here.
    expected = load_classifier(lenet_dir).score(mnist.test.images, mnist.test.labels)
    assert result["reference_accuracy"] == expected
    assert_goal(result)


@pytest.mark.parametrize("fmt", CORE_FORMATS)
def test_mlp_with_normalisation_meets_the_goals(fmt, mlp_dir, mnist, tmp_path):
    model = load_classifier(mlp_dir)
    path = export_model(model, fmt, tmp_path / f"mlp{FORMATS[fmt].suffix}", calibration=mnist.train_full.images)
    result = check_export(fmt, path, model, mnist.test.images, mnist.test.labels)
    assert_goal(result.to_json())


def test_export_without_out_writes_beside_the_cwd_and_human_output(lenet_dir, mnist_dir, tmp_path):
    proc = run_cli(["export", str(lenet_dir), "-f", "onnx", "--check", "--limit", "500"], mnist_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "lenet-lite.onnx").is_file()
    assert "agreement 100.00%" in proc.stdout and "on 500 images" in proc.stdout and "met" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["export", "/does/not/exist", "-f", "onnx"], "not a model or run directory"),
    (["export", "MODEL", "-f", "tflite"], "unknown export format 'tflite'"),
])
def test_export_errors_are_one_line(args, message, lenet_dir, mnist_dir):
    proc = run_cli([str(lenet_dir) if a == "MODEL" else a for a in args], mnist_dir)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_torchscript_takes_uint8_or_float_at_any_batch_size(lenet_dir, mnist, tmp_path):
    import torch

    from digitlab.export.torchscript import load_torchscript

    model = load_classifier(lenet_dir)
    module = load_torchscript(export_model(model, "torchscript", tmp_path / "m.pt"))
    images = np.array(mnist.test.images[:7])
    expected = reference_logits(model, images)
    with torch.no_grad():
        from_bytes = module(torch.from_numpy(images).unsqueeze(1)).numpy()
        from_floats = module(torch.from_numpy(images).unsqueeze(1).float() / 255.0).numpy()
        single = module(torch.from_numpy(images[:1]).unsqueeze(1)).numpy()
    assert np.array_equal(from_bytes, from_floats)
    assert np.abs(from_bytes - expected).max() <= FP32_MAX_ABS_DIFF
    assert np.abs(single - expected[:1]).max() <= FP32_MAX_ABS_DIFF


def test_onnx_has_opset_17_and_a_dynamic_batch(lenet_dir, tmp_path):
    import onnx

    proto = onnx.load(str(export_model(load_classifier(lenet_dir), "onnx", tmp_path / "m.onnx")))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value
    onnx.checker.check_model(proto, full_check=True)


def test_int8_onnx_really_is_quantised(lenet_dir, mnist, tmp_path):
    import onnx

    path = export_model(load_classifier(lenet_dir), "onnx-int8", tmp_path / "q.onnx",
                        calibration=mnist.train_full.images)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.onnx"]  # no temp files left behind


def test_c_export_rejects_what_it_cannot_compute(tmp_path):
    from torch import nn

    from digitlab.inference.classifier import TorchClassifier

    norm = {"name": "none", "mean": 0.0, "std": 1.0}
    classes = tuple("0123456789")
    batchnorm = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(1352, 10))
    no_relu = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.Linear(16, 10))
    for module, message in ((batchnorm, "does not support BatchNorm2d"), (no_relu, "needs a ReLU")):
        model = TorchClassifier(module.eval(), name="custom", args={}, classes=classes, normalization=norm)
        with pytest.raises(ModelError, match=message):
            export_model(model, "c", tmp_path / "c", calibration=np.zeros((4, 28, 28), np.uint8))


def test_hls4ml_project_and_its_c_simulation(lenet_dir, mnist_dir, tmp_path):
    pytest.importorskip("hls4ml")
    out = tmp_path / "hls"
    proc = run_cli(["export", str(lenet_dir), "-f", "hls4ml", "--out", str(out), "--check", "--limit", "1000",
                    "--json"], mnist_dir)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # hls4ml's own progress output must not reach stdout
    assert result["images"] == 1000 and result["agreement"] >= 0.99, result
    assert (out / "firmware" / "myproject.cpp").is_file() and (out / "build_prj.tcl").is_file()
    assert "python/object" not in (out / "hls4ml_config.yml").read_text()  # plain YAML, safe to read back


def test_bench_infer_times_every_runtime_against_the_same_eager_baseline(lenet_dir, mnist):
    from digitlab.bench.infer import benchmark
    from digitlab.export.quantize import calibration_subset

    model = load_classifier(lenet_dir)
    doc = benchmark(model, mnist.test.images[:256], calibration_subset(mnist.train_full.images, 200), big_batch=256,
                    rounds=1, min_seconds=0.02, latency_calls=20)
    names = [r["runtime"] for r in doc["runtimes"]]
    assert names == ["pytorch-eager-fp32", "torchscript-fp32", "onnxruntime-fp32", "onnxruntime-int8", "c-int8",
                     "c-int8-native"]
    eager = doc["runtimes"][0]
    assert eager["speedup_batch256"] == 1.0 and eager["agreement_with_eager"] == 1.0
    for row in doc["runtimes"]:
        assert row["batch1_images_per_s"] > 0 and row["batch256_images_per_s"] > 0
        assert 0 < row["latency_p50_ms"] <= row["latency_p99_ms"]
        assert row["agreement_with_eager"] >= (0.98 if "int8" in row["runtime"] else 1.0)
    assert doc["flops_per_image"] == 2 * doc["macs_per_image"] and doc["roof"]["matmul_fp32_gflops"] > 0
    assert doc["roof"]["best_images_per_s"] == max(r["batch256_images_per_s"] for r in doc["runtimes"])
