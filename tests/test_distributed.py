"""Data-parallel training (DDP, gloo on the CPU) as users start it: `digitlab train --nproc-per-node 2` and torchrun.

Every process runs on one thread (the machine has two cores). The single-process and the 2-process runs of the
same recipe are trained once for the module and shared by the tests below.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from digitlab.data.batches import DeviceBatches
from digitlab.data.datasets import Digits
from digitlab.training.distributed import without_option

CLI = [sys.executable, "-m", "digitlab.cli"]
# 3 epochs of 10,000 images: ~98.5% test accuracy, far enough from chance that 0.3 pt says something.
RECIPE = ["train", "cnn", "--limit", "10000", "--epochs", "3", "--threads", "1", "--device", "cpu", "--json"]


def env_for(mnist_dir: Path) -> dict[str, str]:
    return {**os.environ, "DIGITLAB_DATA": str(mnist_dir), "DIGITLAB_DIST_TIMEOUT": "120"}


def run(args: list[str], mnist_dir: Path, cmd: list[str] = CLI) -> subprocess.CompletedProcess:
    return subprocess.run(cmd + args, capture_output=True, text=True, env=env_for(mnist_dir), timeout=600)


def weights_hash(path: Path) -> str:
    """distributed.weights_sha256 of the saved model (its state_dict by name)."""
    h = hashlib.sha256()
    for name, value in sorted(load_file(str(path)).items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def runs(mnist_dir, tmp_path_factory):
    """(single-process JSON, 2-process JSON, the 2-process run directory)."""
    root = tmp_path_factory.mktemp("ddp")
    single = run(RECIPE + ["--no-report", "--run-dir", str(root / "single")], mnist_dir)
    assert single.returncode == 0, single.stderr
    ddp = run(RECIPE + ["--nproc-per-node", "2", "--run-dir", str(root / "ddp")], mnist_dir)
    assert ddp.returncode == 0, ddp.stderr
    return json.loads(single.stdout), json.loads(ddp.stdout), root / "ddp"


def test_two_processes_land_within_0_3_pt_of_one(runs):
    single, ddp, run_dir = runs
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    assert ddp["epochs_run"] == single["epochs_run"] == 3
    assert ddp["test_acc"] > 0.97
    assert abs(ddp["test_acc"] - single["test_acc"]) <= 0.003, (ddp["test_acc"], single["test_acc"])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["world_size"] == 2 and config["recipe"]["batch_size"] == 256
    assert json.loads((run_dir / "report.json").read_text())["summary"]["world_size"] == 2
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 3


def test_ranks_end_with_identical_weights_and_rank_0_saves_them(runs):
    _, _, run_dir = runs
    hashes = json.loads((run_dir / "report.json").read_text())["summary"]["rank_weights_sha256"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    assert weights_hash(run_dir / "model.safetensors") == hashes[0]


def rank_pid(launcher: int, rank: int, deadline: float) -> int:
    """The pid of the worker of ``rank`` among ``launcher``'s children (torchrun's RANK in its environment)."""
    while time.time() < deadline:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                env = (proc / "environ").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == launcher and f"RANK={rank}".encode() in env:
                return int(proc.name)
        time.sleep(0.05)
    raise AssertionError(f"no rank {rank} worker under {launcher}")


def test_killed_rank_fails_clearly_then_resume_ends_as_the_uninterrupted_run(runs, mnist_dir, tmp_path):
    _, ddp, ddp_dir = runs
    killed = tmp_path / "killed"
    proc = subprocess.Popen(CLI + RECIPE + ["--nproc-per-node", "2", "--run-dir", str(killed)],
                            env=env_for(mnist_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    victim = rank_pid(proc.pid, 1, deadline)
    metrics = killed / "metrics.jsonl"
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().strip():
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before a rank could be killed"
    os.kill(victim, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert "rank 1" in stderr and "SIGKILL" in stderr, stderr[-2000:]
    assert "Traceback" not in stderr.split("distributed run failed")[-1]
    # Rank 0 stopped between atomic writes: no temp files, no model or report of an unfinished run.
    assert not list(killed.glob(".*.tmp")), list(killed.iterdir())
    assert not (killed / "model.safetensors").exists() and not (killed / "report.md").exists()
    checkpoint = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == len(metrics.read_text().splitlines()) < 3
    assert len(checkpoint["rank_rngs"]) == 2

    one = run(["train", "--resume", str(killed), "--json"], mnist_dir)  # a 2-process run resumes in 2
    assert one.returncode == 2 and "trained by 2 process(es)" in one.stderr, one.stderr

    resumed = run(["train", "--resume", str(killed), "--nproc-per-node", "2", "--json"], mnist_dir)
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)
    assert doc["epochs_run"] == 3 and doc["world_size"] == 2
    # Every rank got its own RNG states back: the resumed run ends where the uninterrupted one did.
    assert weights_hash(killed / "model.safetensors") == weights_hash(ddp_dir / "model.safetensors")
    assert doc["test_acc"] == ddp["test_acc"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_of_one_process_over_c10d_rendezvous(mnist_dir, tmp_path):
    port = free_port()
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "digitlab-test",
                "-m", "digitlab"]
    args = ["train", "cnn", "--limit", "3000", "--epochs", "1", "--threads", "1", "--device", "cpu", "--json",
            "--no-report", "--run-dir", str(tmp_path / "run")]
    nodes = [subprocess.Popen(torchrun + args, env=env_for(mnist_dir), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    for node, (_, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, err[-3000:]
    docs = [json.loads(out) for out, _ in outputs if out.strip()]
    assert len(docs) == 1, "rank 0 alone prints the result"
    assert docs[0]["world_size"] == 2 and docs[0]["test_acc"] > 0.9
    assert json.loads((tmp_path / "run" / "config.json").read_text())["world_size"] == 2


def test_batch_size_not_divisible_by_processes_is_one_clear_line(mnist_dir):
    proc = run(["train", "cnn", "--batch-size", "255", "--nproc-per-node", "2"], mnist_dir)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: batch size 255 does not split over 2 processes: choose a multiple of 2 (each takes batch / N)"]


def test_sharded_batches_split_the_single_process_batches():
    digits = Digits(np.zeros((1030, 28, 28), np.uint8), np.arange(1030))  # labels as image ids
    one = DeviceBatches(digits, 256, shuffle=True, seed=3)
    ranks = [DeviceBatches(digits, 256, shuffle=True, seed=3, rank=r, world_size=2) for r in range(2)]
    for epoch in range(2):  # the same permutation each epoch on every rank
        whole = [set(y.tolist()) for _, y in one]
        parts = [[y.tolist() for _, y in r] for r in ranks]
        # 1030 = 4 x 256 + 6: five batches, the last split 3 + 3.
        assert len(whole) == len(parts[0]) == len(parts[1]) == 5, epoch
        for i, batch in enumerate(whole):
            a, b = parts[0][i], parts[1][i]
            assert not set(a) & set(b) and set(a) | set(b) == batch
            assert len(a) == len(b) == len(batch) // 2
    # A last batch that cannot give each rank two images is dropped (BatchNorm needs two per rank).
    digits3 = Digits(digits.images[:515], digits.labels[:515])
    assert len(DeviceBatches(digits3, 256, shuffle=True, world_size=2, rank=1)) == 2
    assert len(DeviceBatches(digits3, 256, shuffle=True)) == 3
    # Evaluation: contiguous shares that cover the split once.
    shares = [DeviceBatches(digits, 100, rank=r, world_size=2) for r in range(2)]
    seen = [y.tolist() for s in shares for _, y in s]
    assert sum(seen, []) == list(range(1030)) and all(s.total == 1030 for s in shares)


def test_without_option_drops_the_flag_and_its_value():
    argv = ["train", "cnn", "--nproc-per-node", "2", "--epochs", "1", "--nproc-per-node=4", "--json"]
    assert without_option(argv, "--nproc-per-node") == ["train", "cnn", "--epochs", "1", "--json"]
