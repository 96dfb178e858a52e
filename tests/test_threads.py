"""digitlab.utils.threads: the thread policy's decisions, its overrides, and that training and inference follow it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from digitlab.errors import DigitlabError
from digitlab.utils import threads


@pytest.fixture(autouse=True)
def no_thread_settings(monkeypatch):
    for name in ("DIGITLAB_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def free(monkeypatch):
    """Pretend this many CPUs are free."""
    def pretend(count: int) -> None:
        monkeypatch.setattr(threads, "free_cpus", lambda: count)
    return pretend


def test_parse_threads_takes_positive_integers_and_auto():
    assert threads.parse_threads(None) is None
    assert threads.parse_threads("auto") is None
    assert threads.parse_threads(" AUTO ") is None
    assert threads.parse_threads("3") == 3
    assert threads.parse_threads(2) == 2
    for bad in ("0", "-1", "two", "1.5", 0, True):
        with pytest.raises(DigitlabError, match="--threads takes a positive integer or auto") as info:
            threads.parse_threads(bad)
        assert "\n" not in str(info.value)


def test_small_work_runs_on_one_thread_however_many_cpus_are_free(free):
    free(8)
    assert threads.choose_threads(threads.MACS_PER_THREAD / 2) == 1
    # seed-001's steps: lenet-lite (97,536 MACs/image), batch 16
    assert threads.training_threads(97_536, 16) == 1
    assert threads.inference_threads(314_240, 1) == 1  # one photo's digit through the cnn


def test_big_work_gets_one_thread_per_share_up_to_the_free_cpus(free):
    free(8)
    assert threads.choose_threads(threads.MACS_PER_THREAD * 3.5) == 3
    assert threads.choose_threads(threads.MACS_PER_THREAD * 100) == 8
    free(1)  # the other CPUs are busy with other processes
    assert threads.choose_threads(threads.MACS_PER_THREAD * 100) == 1


def test_explicit_choices_win_in_order_flag_block_env_omp(free, monkeypatch):
    free(8)
    big, small = threads.MACS_PER_THREAD * 100, 1.0
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.choose_threads(big) == 2 and threads.choose_threads(small) == 2
    monkeypatch.setenv("DIGITLAB_THREADS", "3")
    assert threads.choose_threads(small) == 3
    with threads.use_threads(4):
        assert threads.choose_threads(small) == 4
        assert threads.choose_threads(small, threads=5) == 5
    assert threads.choose_threads(small) == 3
    monkeypatch.setenv("DIGITLAB_THREADS", "auto")
    assert threads.choose_threads(small) == 2  # auto defers to the user's own OMP_NUM_THREADS


def test_a_bad_environment_value_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("DIGITLAB_THREADS", "lots")
    with pytest.raises(DigitlabError, match="DIGITLAB_THREADS takes a positive integer or auto; got 'lots'"):
        threads.choose_threads(1.0)


def test_busy_cpus_counts_other_processes_not_this_one(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    before = threads._Sample(wall=10.0, busy={0: 100.0, 1: 200.0, 2: 0.0}, own=5.0)
    # in 2 s: CPUs 0 and 1 were busy 3.5 s together, 1.5 s of it this process; CPU 2 is not ours
    after = threads._Sample(wall=12.0, busy={0: 102.0, 1: 201.5, 2: 2.0}, own=6.5)
    assert threads.busy_cpus(before, after) == pytest.approx(1.0)


def test_free_cpus_subtracts_busy_cpus_and_keeps_at_least_one(monkeypatch):
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    for busy, expected in ((0.2, 4), (1.6, 2), (3.9, 1), (9.0, 1)):
        monkeypatch.setattr(threads, "_last", threads._Sample(0.0, {}, 0.0))  # a 1 s window: long enough
        monkeypatch.setattr(threads, "_sample", lambda: threads._Sample(1.0, {}, 0.0))
        monkeypatch.setattr(threads, "busy_cpus", lambda _before, _after, busy=busy: busy)
        assert threads.free_cpus() == expected


def test_import_shortens_openmp_spinning_without_importing_torch_and_respects_the_users_choice():
    code = "import os, sys, digitlab; print(os.environ.get('GOMP_SPINCOUNT'), 'torch' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k not in threads.WAIT_VARIABLES}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == [threads.SPIN_COUNT, "False"]
    done = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "PASSIVE"},
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["None", "False"]


def test_cli_rejects_a_bad_thread_count_in_one_line():
    for args, env in ((["train", "--threads", "none"], {}), (["eval", "default"], {"DIGITLAB_THREADS": "0"})):
        done = subprocess.run([sys.executable, "-m", "digitlab.cli", *args], capture_output=True, text=True,
                              env={**os.environ, **env})
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "takes a positive integer or auto" in lines[0], done.stderr


def tiny_digits(n: int, seed: int = 0):
    from digitlab.data.datasets import Digits

    rng = np.random.default_rng(seed)
    return Digits(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64))


@pytest.mark.parametrize("asked, expected", [(None, 1), (2, 2)])
def test_fit_trains_on_the_chosen_threads_and_restores_torch_after(asked, expected, free):
    import torch

    from digitlab.models.registry import create_model
    from digitlab.training.engine import fit
    from digitlab.training.recipes import get_recipe

    free(8)
    before = torch.get_num_threads()
    seen = []
    recipe = get_recipe("seed-001").override(epochs=2)  # lenet-lite at batch 16: small steps
    state = fit(create_model("lenet-lite"), recipe, tiny_digits(64), tiny_digits(32, 1), device=torch.device("cpu"),
                threads=asked, on_epoch=lambda _record: seen.append(torch.get_num_threads()))
    assert seen == [expected, expected]
    assert state.threads["train"] == expected
    assert torch.get_num_threads() == before


def test_train_records_the_thread_plan_in_config_and_json(mnist_dir, tmp_path):
    env = {**os.environ, "DIGITLAB_THREADS": "auto"}
    done = subprocess.run([sys.executable, "-m", "digitlab.cli", "train", "lenet-lite", "--epochs", "1", "--limit",
                           "320", "--threads", "2", "--run-dir", str(tmp_path / "run"), "--data-dir", str(mnist_dir),
                           "--no-report", "--json"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["threads"] == {"train": 2, "eval": 2}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["threads"] == {"train": 2, "eval": 2} and config["options"]["threads"] == 2
    assert not (tmp_path / "run" / "report.md").exists()


def test_torch_classifier_uses_one_thread_for_a_single_image_and_honours_threads(free):
    from digitlab.inference.classifier import load_classifier

    free(8)
    model = load_classifier("default")
    assert model.threads_for(1) == 1
    assert model.threads_for(4096) > 1  # a big batch through the shipped DigitNet: worth the free CPUs
    model.threads = 3
    assert model.threads_for(1) == 3


def test_numpy_network_plans_one_blas_thread_for_its_tiny_steps(free):
    from digitlab.models.scratch import ScratchNetwork

    free(8)
    net = ScratchNetwork()
    assert net.thread_plan(10)["train"] == 1
    assert net.thread_plan(10, threads=2) == {"train": 2, "eval": 2}
