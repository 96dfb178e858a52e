"""`digitlab sweep` on Optuna: the --param grammar, a tiny real search (TPE, median pruning, one run directory
per trial, the summary, the plot, the best recipe that `digitlab train --recipe` reproduces), two processes on
one SQLite study, and a killed worker's trial run again.

The data: a small IDX directory of real MNIST digits (1,100 training images, the last 300 of them the
validation split; 200 test images), the `cnn` model, 1-2 epochs: every trial takes about a second.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from digitlab.errors import DigitlabError
from digitlab.training.recipes import get_recipe
from digitlab.training.run import RunOptions
from digitlab.training.sweep import (
    Param,
    SweepOptions,
    hide_password,
    open_study,
    parse_param,
    parse_params,
    run_sweep,
    write_outputs,
)

CLI = [sys.executable, "-m", "digitlab"]
ENV = {**os.environ, "DIGITLAB_THREADS": "1"}
CPU = RunOptions(device="cpu", threads=1)
needs_optuna = pytest.mark.skipif(importlib.util.find_spec("optuna") is None,
                                  reason="the scale extra (optuna) is not installed")


@pytest.fixture(scope="module")
def tiny(mnist, tmp_path_factory) -> Path:
    """An IDX directory of the first 1,100 MNIST training and 200 test images."""
    from digitlab.data.idx import write_idx

    root = tmp_path_factory.mktemp("tiny-mnist")
    write_idx(root / "train-images-idx3-ubyte", mnist.train_full.images[:1100])
    write_idx(root / "train-labels-idx1-ubyte", mnist.train_full.labels[:1100].astype(np.uint8))
    write_idx(root / "t10k-images-idx3-ubyte", mnist.test.images[:200])
    write_idx(root / "t10k-labels-idx1-ubyte", mnist.test.labels[:200].astype(np.uint8))
    return root


@pytest.fixture(scope="module")
def recipe(tiny):
    return get_recipe("cnn").override(dataset=f"idx:{tiny}", val_size=300, epochs=2, batch_size=64)


@pytest.fixture(scope="module")
def recipe_file(recipe, tmp_path_factory) -> Path:
    """The tiny recipe as a file: what `digitlab sweep FILE` and `digitlab train --recipe FILE` read."""
    path = tmp_path_factory.mktemp("recipe") / "tiny-cnn.json"
    path.write_text(json.dumps({**recipe.to_json(), "name": "tiny-cnn"}))
    return path


def invoke(args: list[str]):
    """`digitlab ARGS` in this process (the same typer app; no second start-up of torch)."""
    from typer.testing import CliRunner

    from digitlab.cli import app

    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, (done.output, done.exception)
    return done


def sweep_cli(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(CLI + ["sweep", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV, **kw)


# --- the --param grammar ------------------------------------------------------------------------------------------

def test_param_kinds_parse_with_dashes_and_numbers():
    cnn = get_recipe("cnn")
    assert parse_param("lr=log:1e-4:1e-1", cnn) == Param("lr", "log", 1e-4, 1e-1)
    assert parse_param("weight-decay=float:0:0.01", cnn) == Param("weight_decay", "float", 0.0, 0.01)
    assert parse_param("epochs=int:1:3", cnn) == Param("epochs", "int", 1, 3)
    assert parse_param("batch-size=64,128,256", cnn) == Param("batch_size", "choice", choices=(64, 128, 256))
    assert parse_param("optimizer=adam,sgd", cnn).choices == ("adam", "sgd")
    assert parse_param("ema=none,0.999", cnn).choices == (None, 0.999)
    assert parse_param("label_smoothing=0,0.1", cnn).choices == (0, 0.1)
    assert parse_param("lr=log:1e-4:1e-1").contains(2e-2) and not parse_param("lr=log:1e-4:1e-2").contains(2e-2)
    assert parse_param("batch-size=64,128").contains(64) and not parse_param("batch-size=32,128").contains(64)
    assert not parse_param("ema=0.99,0.999").contains(None) and parse_param("ema=none,0.999").contains(None)
    for text in ("lr=log:0.0001:0.1", "batch_size=64,128", "epochs=int:1:3", "ema=none,0.999"):
        assert parse_param(text).spec() == text


@pytest.mark.parametrize("text, message", [
    ("nope=1,2", "--param nope: unknown parameter"),
    ("lr=log:1e-1:1e-4", "LO must be below HI"),
    ("lr=float:0.1:0.1", "LO must be below HI"),
    ("lr=log:0:1", "a log range needs LO > 0"),
    ("lr=log:1e-4", "a range is log:LO:HI"),
    ("lr=log:a:1", "'a' is not a number"),
    ("lr=uniform:0:1", "unknown range kind 'uniform'"),
    ("lr", "--param takes NAME=log:LO:HI"),
    ("=1,2", "--param takes NAME=log:LO:HI"),
    ("batch-size=log:16:256", "batch_size is a whole number"),
    ("batch-size=64,96.5", "batch_size takes whole numbers"),
    ("epochs=int:1.5:3", "int:LO:HI takes whole numbers"),
    ("lr=fast,slow", "lr takes numbers"),
    ("optimizer=float:0:1", "optimizer takes a list of values"),
    ("optimizer=adam,rmsprop", "'rmsprop' is out of range"),
    ("batch-size=0,64", "0 is out of range"),
    ("lr=float:0:1", "0.0 is out of range"),
    ("model=cnn,nope", "unknown model 'nope'"),
    ("val-size=100,200", "cannot be swept"),
    ("batch-size=64,64", "listed twice"),
])
def test_bad_params_are_one_clear_error(text, message):
    with pytest.raises(DigitlabError) as caught:
        parse_params([text], get_recipe("cnn"))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_storage_passwords_are_hidden():
    assert hide_password("postgresql://me:secret@db-host:5432/sweeps") == "postgresql://me:***@db-host:5432/sweeps"
    assert hide_password("mysql+pymysql://me:pw@h/d") == "mysql+pymysql://me:***@h/d"
    assert hide_password("sqlite:////tmp/sweep.db") == "sqlite:////tmp/sweep.db"
    assert hide_password("postgresql://db-host/sweeps") == "postgresql://db-host/sweeps"


def test_a_field_given_twice_or_none_at_all_is_an_error():
    with pytest.raises(DigitlabError, match="--param lr is given twice"):
        parse_params(["lr=log:1e-4:1e-1", "lr=0.1,0.2"], get_recipe("cnn"))
    with pytest.raises(DigitlabError, match="at least one --param"):
        parse_params([], get_recipe("cnn"))


@needs_optuna
@pytest.mark.parametrize("args, message", [
    (["cnn", "--param", "nope=1,2"], "--param nope: unknown parameter"),
    (["cnn", "--param", "lr=log:0:1"], "a log range needs LO > 0"),
    (["seed-999", "--param", "lr=log:1e-4:1e-1"], "unknown recipe 'seed-999'"),
])
def test_cli_bad_input_exits_2_with_one_line(args, message, tmp_path):
    proc = sweep_cli([*args, "--out", str(tmp_path / "s")])
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stderr
    assert message in stderr and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_without_optuna_the_command_names_the_extra(tmp_path):
    refuse = textwrap.dedent("""
        import importlib.abc, sys
        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "optuna":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, Refuse())
        sys.argv = ["digitlab", "sweep", "cnn", "--param", "lr=log:1e-4:1e-1"]
        from digitlab.cli import main
        main()
    """)
    done = subprocess.run([sys.executable, "-c", refuse], capture_output=True, text=True, timeout=120, env=ENV,
                          cwd=tmp_path)
    assert done.returncode == 2
    assert "pip install 'digitlab[scale]'" in done.stderr and "Traceback" not in done.stderr


# --- a tiny real search -------------------------------------------------------------------------------------------

@needs_optuna
def test_sweep_writes_trials_summary_plot_and_a_best_recipe_train_reproduces(recipe_file, tmp_path):
    out = tmp_path / "sweep"
    done = invoke(["sweep", str(recipe_file), "--param", "lr=log:1e-3:3e-2", "--param", "batch-size=32,64",
                   "--trials", "4", "--seed", "3", "--out", str(out), "--threads", "1", "--device", "cpu",
                   "--no-report", "--json"])
    doc = json.loads(done.stdout)
    assert doc == json.loads((out / "summary.json").read_text())
    assert doc["study"] == "sweep-tiny-cnn" and doc["storage"] == f"sqlite:///{out.resolve() / 'study.db'}"
    trials = doc["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    assert trials[0]["params"] == {"lr": 2e-2, "batch_size": 64} and trials[0]["baseline"]  # the recipe as written
    assert not any(t["baseline"] for t in trials[1:])
    assert {t["state"] for t in trials} <= {"complete", "pruned"} and trials[0]["state"] == "complete"
    for t in trials:  # each trial a normal run directory, its settings in its recipe, its curve in metrics.jsonl
        run = Path(t["run_dir"])
        assert run == (out / f"trial-{t['number']:03d}").resolve()
        config = json.loads((run / "config.json").read_text())
        assert config["recipe"]["lr"] == t["params"]["lr"] and config["recipe"]["batch_size"] in (32, 64)
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [m["val_acc"] for m in metrics] == t["val_acc_per_epoch"]
        assert (run / "model.json").exists() == (t["state"] == "complete")  # a pruned run stops before its model
        assert 1e-3 <= t["params"]["lr"] <= 3e-2
    complete = [t for t in trials if t["state"] == "complete"]
    best = max(complete, key=lambda t: t["val_acc"])
    assert doc["best"]["number"] == best["number"] and doc["best"]["val_acc"] == best["val_acc"] > 0.5
    assert best["val_acc"] == max(best["val_acc_per_epoch"])  # the objective: validation, the best epoch
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    best_file = out / "best-recipe.json"
    loaded = get_recipe(str(best_file))
    assert loaded.lr == best["params"]["lr"] and loaded.batch_size == best["params"]["batch_size"]
    assert loaded.name == "tiny-cnn-best" and loaded.epochs == 2 and loaded.val_size == 300
    train = invoke(["train", "--recipe", str(best_file), "--run-dir", str(tmp_path / "best"), "--device", "cpu",
                    "--threads", "1", "--no-report", "--json"])
    assert json.loads(train.stdout)["best_val_acc"] == pytest.approx(best["val_acc"], abs=0.004)


@needs_optuna
def test_median_pruner_stops_a_trial_clearly_below_the_median(recipe, tmp_path):
    """Three good learning rates finish; a hopeless one (1e-6: chance level after one epoch) is pruned then."""
    params = parse_params(["lr=log:1e-6:1e-1"], recipe)
    options = SweepOptions(trials=4, out=tmp_path / "prune", prune_startup=3, report=False, baseline=False)
    study = open_study(recipe, params, options)
    for lr in (4e-3, 8e-3, 1.6e-2, 1e-6):
        study.enqueue_trial({"lr": lr})
    result = run_sweep(recipe, params, options, CPU)
    states = [t["state"] for t in result.trials]
    assert states == ["complete", "complete", "complete", "pruned"]
    first_epoch = sorted(t["val_acc_per_epoch"][0] for t in result.trials[:3])
    bad = result.trials[3]
    assert bad["epochs"] == 1 and bad["val_acc"] < first_epoch[1] - 0.2  # clearly below the median
    run = Path(bad["run_dir"])
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1 and not (run / "model.json").exists()
    assert result.best["number"] in (0, 1, 2) and result.best_recipe.lr != 1e-6


@needs_optuna
def test_a_study_searching_other_parameters_refuses_a_new_worker(recipe, tmp_path):
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first = SweepOptions(trials=1, out=tmp_path / "a", storage=db, study_name="s")
    study = open_study(recipe, parse_params(["lr=log:1e-4:1e-1"], recipe), first)
    with pytest.raises(DigitlabError, match="study 's' .* searches other parameters lr=log:0.0001:0.1"):
        open_study(recipe, parse_params(["lr=log:1e-3:1e-1"], recipe), first)
    with pytest.raises(DigitlabError, match="searches other recipe"):
        open_study(recipe.override(epochs=1), parse_params(["lr=log:1e-4:1e-1"], recipe), first)
    write_outputs(study, recipe, first, plot=False)  # what run_sweep does first: OUT/summary.json names the study
    with pytest.raises(DigitlabError, match="holds the trials of study 's'"):
        run_sweep(recipe, parse_params(["lr=log:1e-4:1e-1"], recipe),
                  SweepOptions(trials=1, out=tmp_path / "a", storage=db, study_name="other"))
    with pytest.raises(DigitlabError, match="cannot open the study storage"):
        open_study(recipe, parse_params(["lr=log:1e-4:1e-1"], recipe),
                   SweepOptions(trials=1, out=tmp_path / "b", storage="sqlite:////no/such/dir/x.db"))
    with pytest.raises(DigitlabError) as caught:  # no driver, or no server on port 1: one line, no password
        open_study(recipe, parse_params(["lr=log:1e-4:1e-1"], recipe),
                   SweepOptions(trials=1, out=tmp_path / "c", storage="postgresql://me:secret@127.0.0.1:1/db"))
    assert "postgresql://me:***@127.0.0.1:1/db: cannot open" in str(caught.value)
    assert "secret" not in str(caught.value) and "\n" not in str(caught.value)


# --- several workers, one study -----------------------------------------------------------------------------------

@needs_optuna
def test_two_processes_share_one_sqlite_study(recipe_file, tmp_path):
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    common = [str(recipe_file), "--param", "lr=log:1e-3:3e-2", "--param", "batch-size=32,64", "--trials", "2",
              "--epochs", "1", "--storage", db, "--study-name", "shared", "--threads", "1", "--device", "cpu",
              "--no-report"]
    workers = [sweep_cli([*common, "--seed", str(i), "--out", str(tmp_path / f"worker-{i}"), *extra])
               for i, extra in ((1, ["--json"]), (2, []))]  # worker 2 prints its table
    done = [proc.communicate(timeout=300) for proc in workers]
    for proc, (_, stderr) in zip(workers, done, strict=True):
        assert proc.returncode == 0, stderr
    import optuna

    study = optuna.load_study(study_name="shared", storage=db)
    assert len(study.trials) == 4 and sorted(t.number for t in study.trials) == list(range(4))
    assert {t.state.name for t in study.trials} == {"COMPLETE"}  # one epoch, the last: never pruned; none lost
    dirs = sorted(p.name for p in tmp_path.glob("worker-*/trial-*"))
    assert dirs == [f"trial-{n:03d}" for n in range(4)]  # each trial's run directory, in its worker's OUT
    for t in study.trials:
        assert Path(t.user_attrs["run_dir"], "model.json").exists()
    docs = [json.loads(done[0][0]), json.loads((tmp_path / "worker-2" / "summary.json").read_text())]
    last = max(docs, key=lambda d: len(d["trials"]))  # the worker that finished last saw every trial
    assert len(last["trials"]) == 4 and last["best"]["val_acc"] == study.best_value
    table, progress = done[1]
    assert "study shared:" in table and "best: trial" in table and "best-recipe.json" in table
    assert progress.count("complete after 1 epoch(s)") == 2  # one line per trial of its own


@needs_optuna
def test_a_killed_workers_trial_is_run_again_by_another(recipe_file, recipe, tmp_path):
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    args = [str(recipe_file), "--param", "lr=log:1e-3:3e-2", "--trials", "1", "--epochs", "2",
            "--storage", db, "--study-name", "k", "--heartbeat", "1", "--threads", "1", "--device", "cpu",
            "--no-report"]
    victim = sweep_cli([*args, "--out", str(tmp_path / "victim")], start_new_session=True)
    started = tmp_path / "victim" / "trial-000" / "config.json"
    deadline = time.monotonic() + 120
    while not started.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)  # mid-trial: its trial stays RUNNING in the study
    victim.communicate(timeout=60)
    assert started.exists()
    # More than the grace period (two heartbeats, 2 s) since its last one: SQLite's CURRENT_TIMESTAMP counts whole
    # seconds, so 2.5 s can read as 2 (not stale yet); 3.5 s reads as at least 3.
    time.sleep(3.5)
    base = recipe.override(epochs=2, name="tiny-cnn")
    result = run_sweep(base, parse_params(["lr=log:1e-3:3e-2"], base),
                       SweepOptions(trials=1, out=tmp_path / "rescuer", storage=db, study_name="k", heartbeat=1,
                                    report=False), CPU)
    assert [t["state"] for t in result.trials] == ["fail", "complete"]
    assert result.trials[1]["params"] == result.trials[0]["params"]  # the same settings, run again
    assert Path(result.trials[1]["run_dir"]).parent == (tmp_path / "rescuer").resolve()
