"""`digitlab bench predict` and `bench startup` end to end at small sizes, and bad bench flags: one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from digitlab.bench.startup import one_photo, run_once
from digitlab.errors import DigitlabError

CLI = [sys.executable, "-m", "digitlab.cli", "bench"]


def test_bench_predict_reports_the_latency_summary_of_both_timings(mnist_dir):
    done = subprocess.run([*CLI, "predict", "--runs", "10", "--json"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DIGITLAB_DATA": str(mnist_dir)})
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["runs"] == 10 and doc["runtime"] == "torch" and doc["bytes"] > 10_000
    for timing in ("end_to_end", "model_only"):
        summary = doc[timing]
        assert list(summary) == ["p50_ms", "p99_ms", "min_ms"]
        assert 0 < summary["min_ms"] <= summary["p50_ms"] <= summary["p99_ms"]
    # the model call is one part of a whole read (decode + preprocess + model)
    assert doc["model_only"]["min_ms"] < doc["end_to_end"]["min_ms"]
    assert doc["goal_met"] == (doc["end_to_end"]["p99_ms"] <= doc["goal_p99_ms"])


def test_startup_times_a_whole_process_and_says_why_one_failed(tmp_path, mnist_dir, monkeypatch):
    monkeypatch.setenv("DIGITLAB_DATA", str(mnist_dir))
    photo = one_photo(tmp_path)
    with Image.open(photo) as image:
        assert image.format == "JPEG" and image.size == (1000, 1000)
    wall, cpu = run_once([sys.executable, "-c", "import time; time.sleep(0.2)"])
    assert 0.2 <= wall < 10 and 0 <= cpu < wall
    with pytest.raises(DigitlabError, match="exited 3: boom"):
        run_once([sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"])


@pytest.mark.parametrize("args, message", [
    (["serve", "--concurrency", "8,x"], "--concurrency takes positive integers"),
    (["serve", "--concurrency", "0"], "--concurrency takes positive integers"),
    (["predict", "--runtime", "tflite"], "--runtime must be torch or onnx"),
    (["load", "--conditions", "busy9"], "--conditions takes a comma-separated list of idle, busy1, busy2"),
])
def test_bad_flags_are_one_line_and_exit_2(args, message):
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
