"""`digitlab bench load`: a quick run end to end, its goal arithmetic, and busy processes that always stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil
import pytest

from digitlab.bench import load as bench_load


def busy_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if bench_load.BUSY.splitlines()[1] in
            " ".join(p.cmdline())]


def test_quick_run_times_the_policy_idle_and_beside_a_busy_process(mnist_dir):
    # Two timed processes keep this fast; test_goals_* covers the comparison with the settings before.
    command = [sys.executable, "-m", "digitlab.cli", "bench", "load", "--quick", "--paths", "seed-004",
               "--variants", "policy", "--conditions", "idle,busy1", "--data-dir", str(mnist_dir), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "DIGITLAB_THREADS": "auto"})
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    runs = doc["results"]["seed-004"]
    for condition in ("idle", "busy1"):
        record = runs["policy"][condition]
        assert record["seconds"] > 0 and record["threads"]["train"] == 1
    ratios = doc["ratios"]["seed-004"]
    assert ratios["policy_busy1_over_idle"] == pytest.approx(
        runs["policy"]["busy1"]["seconds"] / runs["policy"]["idle"]["seconds"], abs=1e-3)
    assert doc["goals"]["busy1_met"] == (ratios["policy_busy1_over_idle"] <= 2.0)
    assert doc["goals"]["idle_met"] is None  # nothing before the policy was timed
    assert doc["paths"]["seed-004"].startswith("quick") and len(doc["load_average"]["start"]) == 3
    assert doc["machine"]["cpus"] == os.cpu_count()


def test_goals_compare_busy_to_idle_and_idle_to_the_best_setting_before():
    def timed(**conditions):
        return {c: {"seconds": s} for c, s in conditions.items()}

    results = {"a": {"policy": timed(idle=1.0, busy1=1.9), "spin-default": timed(idle=1.2), "omp1": timed(idle=1.0)},
               "b": {"policy": timed(idle=2.0, busy1=3.0), "spin-default": timed(idle=1.9)}}
    ratios, goals = bench_load.summarize(results)
    assert ratios["a"]["policy_busy1_over_idle"] == 1.9 and ratios["a"]["policy_idle_over_best_before"] == 1.0
    assert goals["busy1_met"] and goals["idle_met"] and goals["met"]
    results["b"]["policy"]["busy1"]["seconds"] = 4.2  # 2.1x its idle time
    results["a"]["omp1"]["idle"]["seconds"] = 0.8  # the policy is now 25% slower than OMP_NUM_THREADS=1
    ratios, goals = bench_load.summarize(results)
    assert not goals["busy1_met"] and not goals["idle_met"] and not goals["met"]
    results["b"]["policy"]["busy1"]["seconds"] = None  # timed out: a miss, not a pass
    assert not bench_load.summarize(results)[1]["busy1_met"]


def test_busy_processes_spin_and_stop_even_when_the_block_fails():
    with pytest.raises(RuntimeError), bench_load.busy_processes(2) as started:
        assert len(busy_children()) == 2
        assert all(p.poll() is None for p in started)
        raise RuntimeError("a timed run failed")
    assert all(p.poll() is not None for p in started)
    assert busy_children() == []


def test_unknown_names_are_one_clear_error():
    done = subprocess.run([sys.executable, "-m", "digitlab.cli", "bench", "load", "--paths", "cnn,nope"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --paths takes a comma-separated list of cnn, seed-001, seed-002, seed-004, predict; got 'cnn,nope'"]
