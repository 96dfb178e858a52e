"""benchmarks/gpu_check.py (`make gpu-check`): its dry run on the CPU, and what it says without a GPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

PATH = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_on_the_cpu_runs_every_step_and_writes_its_figures(gpu_check, mnist_dir, tmp_path, capsys):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    out = tmp_path / "gpu-check.json"
    code = gpu_check.main(["--device", "cpu", "--quick", "--data-dir", str(mnist_dir), "--out", str(out)])
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert code == 0, printed
    assert doc["ok"] and doc["quick"] and doc["machine"]["device"] == "cpu"
    steps = doc["steps"]
    assert len(steps) == 4 and all(s["ok"] for s in steps.values()), steps
    assert printed.count("PASS ") == 4 and "FAIL" not in printed
    speed = next(s for name, s in steps.items() if name.startswith("speed"))
    assert len(speed["runs"]) == 1 and speed["baseline_mean_s"] > 0 and speed["digitlab_mean_s"] > 0
    assert speed["speedup"] == pytest.approx(speed["baseline_mean_s"] / speed["digitlab_mean_s"])
    recognizer = next(s for name, s in steps.items() if name.startswith("recognizer"))
    assert recognizer["train_images"] == gpu_check.QUICK_SIZES["train"] - gpu_check.QUICK_SIZES["val"]
    onnx = next(s for name, s in steps.items() if name.startswith("onnx"))
    assert onnx["images"] == gpu_check.QUICK_SIZES["test"] and onnx["agreement"] == 1.0 and onnx["goal_met"]
    assert onnx["model_device_before_export"] == "cpu"
    serve = next(s for name, s in steps.items() if name.startswith("serve"))
    assert serve["digits"] == "2026" and serve["model_device"] == "cpu" and serve["status"] == 200


def test_without_a_cuda_device_it_says_so_and_exits_2(gpu_check, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    out = tmp_path / "gpu-check.json"
    assert gpu_check.main(["--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "no CUDA device" in error and "--device cpu --quick" in error
    assert not out.exists()


def test_a_failing_step_is_a_fail_line_and_fails_the_check(gpu_check, capsys):
    steps = gpu_check.Steps()
    assert steps.run("fine", lambda: {"figure": 1}) == {"figure": 1, "ok": True, "seconds": pytest.approx(0, abs=1)}
    assert steps.run("broken", lambda: 1 / 0) is None
    assert steps.run("missed", lambda: {"ok": False, "problem": "too slow"}) is None
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "PASS fine" and printed[1].startswith("FAIL broken: ZeroDivisionError")
    assert printed[2] == "FAIL missed: too slow"
    assert not steps.ok and "ZeroDivisionError" in steps.results["broken"]["traceback"]
