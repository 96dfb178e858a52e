"""The CLI imports only what the command it runs needs; commands without their extra say which one to install.

Missing extras are simulated in a subprocess by an import hook that refuses the extra's packages, as a core
install (no fastapi, onnx, onnxruntime, pennylane, hls4ml) would; `make test-wheel` checks a real one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from digitlab.cli import COMMANDS, RootGroup
from digitlab.cli.bench_cmds import BenchGroup

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "docs" / "number-2026.jpg"
EXTRAS_PACKAGES = ["fastapi", "fastapi_offline", "uvicorn", "onnx", "onnxruntime", "pennylane", "hls4ml"]

# python -c RUNNER BLOCKED_JSON MODULES_FILE ARGS...: refuses the blocked packages, runs `digitlab ARGS`, and
# writes the top-level modules the process imported to MODULES_FILE when it exits.
RUNNER = textwrap.dedent("""
    import atexit, importlib.abc, json, sys

    blocked, modules_file = set(json.loads(sys.argv[1])), sys.argv[2]

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Refuse())
    atexit.register(lambda: open(modules_file, "w").write(json.dumps(sorted(m for m in sys.modules if "." not in m))))
    sys.argv = ["digitlab", *sys.argv[3:]]
    from digitlab.cli import main
    main()
""")


def run_cli(args: list[str], tmp_path: Path, blocked: list[str] = ()) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `digitlab ARGS` in a fresh process with ``blocked`` packages refused; (process, top-level modules)."""
    modules_file = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(list(blocked)), str(modules_file), *args],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "DIGITLAB_THREADS": "1"})
    modules = set(json.loads(modules_file.read_text())) if modules_file.exists() else set()
    return done, modules


@pytest.mark.parametrize("group", [RootGroup, BenchGroup])
def test_listing_matches_each_commands_own_help(group):
    import typer

    instance = group(name="digitlab")
    ctx = typer.Context(instance)
    for name, (_, listed) in group.table.items():
        command = instance.get_command(ctx, name)
        assert command is not None, name
        assert command.get_short_help_str(limit=1000) == listed, f"update the table line for {name!r}"


def test_root_table_names_every_top_level_command():
    assert set(COMMANDS) >= {"data", "models", "recipes", "train", "eval", "predict", "export", "import-state-dict",
                             "serve", "bench", "main"}


def test_help_and_version_import_neither_numpy_nor_torch(tmp_path):
    from digitlab import __version__

    done, modules = run_cli(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "predict" in done.stdout and "main" not in done.stdout.split("Commands:")[1]
    assert not modules & {"numpy", "torch", "fastapi", "scipy", "PIL"}, modules
    done, _ = run_cli(["--version"], tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"digitlab {__version__}"


def test_predict_runs_the_shipped_onnx_without_torch_and_reads_the_same(tmp_path):
    fast, modules = run_cli(["predict", str(PHOTO), "--json"], tmp_path)
    assert fast.returncode == 0, fast.stderr
    assert "onnxruntime" in modules and "torch" not in modules and "fastapi" not in modules
    slow, modules = run_cli(["predict", str(PHOTO), "--json", "--runtime", "torch"], tmp_path)
    assert slow.returncode == 0, slow.stderr
    assert "torch" in modules
    fast_doc, slow_doc = json.loads(fast.stdout), json.loads(slow.stdout)
    assert fast_doc[0]["digits"] == slow_doc[0]["digits"] == "2026"
    for a, b in zip(fast_doc[0]["items"], slow_doc[0]["items"], strict=True):
        assert np.allclose(a["probs"], b["probs"], atol=1e-4)


def test_core_install_commands_work_without_any_extra(tmp_path):
    done, modules = run_cli(["predict", str(PHOTO)], tmp_path, EXTRAS_PACKAGES)
    assert done.returncode == 0, done.stderr
    assert "2026" in done.stdout and "torch" in modules  # no onnxruntime: the torch runtime reads it
    for args in (["models", "--json"], ["recipes", "--json"], ["train", "--help"], ["bench", "train", "--help"]):
        done, _ = run_cli(args, tmp_path, EXTRAS_PACKAGES)
        assert done.returncode == 0, (args, done.stderr)


@pytest.mark.parametrize(("args", "extra"), [
    (["serve", "--port", "0"], "serve"),
    (["bench", "serve", "--seconds", "1"], "serve"),
    (["export", "default", "--format", "onnx", "--out", "m.onnx"], "export"),
])
def test_a_missing_extra_is_one_line_naming_it_and_exit_2(tmp_path, args, extra):
    done, _ = run_cli(args, tmp_path, EXTRAS_PACKAGES)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"pip install 'digitlab[{extra}]'" in lines[0]


def test_python_api_raises_digitlab_error_naming_the_extra(monkeypatch):
    import builtins

    from digitlab.errors import DigitlabError, MissingExtra
    from digitlab.utils.extras import require

    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name.split(".")[0] == "hls4ml":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    with pytest.raises(MissingExtra, match=r"pip install 'digitlab\[hls\]'") as caught:
        require("hls4ml", "hls", "the hls4ml format")
    assert isinstance(caught.value, DigitlabError)


def test_shipped_onnx_files_are_current_and_agree_with_torch(mnist):
    from digitlab.inference.classifier import PRETRAINED_DIR, load_classifier
    from digitlab.inference.onnx_runtime import OnnxRuntimeClassifier, weights_sha256

    images = mnist.test.images[:256]
    for directory in sorted(p for p in PRETRAINED_DIR.iterdir() if (p / "model.json").exists()):
        meta = json.loads((directory / "model.json").read_text())
        assert meta["onnx"]["weights_sha256"] == weights_sha256(directory), f"re-run export --attach on {directory}"
        fast, slow = load_classifier(directory, runtime="auto"), load_classifier(directory, runtime="torch")
        assert isinstance(fast, OnnxRuntimeClassifier)
        assert np.abs(fast.predict_proba(images) - slow.predict_proba(images)).max() <= 1e-4


def test_stale_onnx_is_ignored_and_save_drops_its_entry(tmp_path):
    from digitlab.inference.classifier import PRETRAINED_DIR, TorchClassifier, load_classifier
    from digitlab.inference.onnx_runtime import OnnxRuntimeClassifier

    copy = tmp_path / "model"
    shutil.copytree(PRETRAINED_DIR / "default", copy)
    assert isinstance(load_classifier(copy, runtime="auto"), OnnxRuntimeClassifier)
    torch_model = load_classifier(copy, runtime="torch")
    for value in torch_model.module.state_dict().values():  # other weights: the ONNX file is stale now
        if value.is_floating_point():
            value.mul_(0.5)
            break
    torch_model.save(copy)
    assert "onnx" not in json.loads((copy / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps({**json.loads((copy / "model.json").read_text()),
                                                 "onnx": json.loads((PRETRAINED_DIR / "default" / "model.json")
                                                                    .read_text())["onnx"]}))
    assert isinstance(load_classifier(copy, runtime="auto"), TorchClassifier)  # sha256 no longer matches


def test_json_output_is_strict(tmp_path, capsys):
    from digitlab.utils.console import print_json
    from digitlab.utils.fileio import atomic_write_json

    value = {"nan": float("nan"), "inf": np.float32("inf"), "array": np.arange(2), "path": tmp_path}
    print_json(value)
    printed = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert printed == {"nan": None, "inf": None, "array": [0, 1], "path": str(tmp_path)}
    atomic_write_json(tmp_path / "x.json", value)
    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=lambda c: pytest.fail(c)) == printed
