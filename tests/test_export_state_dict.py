"""The seed's state_dict path: export exactly as torch.save writes it; import it back without unpickling code."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from digitlab.errors import ModelError
from digitlab.export import export_model
from digitlab.export.state_dict import import_state_dict, load_state_dict_file
from digitlab.inference.classifier import load_classifier, wrap
from digitlab.models.registry import create_model, model_args

CLI = [sys.executable, "-m", "digitlab.cli"]
NONE = {"name": "none", "mean": 0.0, "std": 1.0}


class SeedLeNet(nn.Module):
    """Seed 001's own class: same layers as lenet-lite, its own names."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.fc1 = nn.Linear(392, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class Exploit:
    """Unpickling this runs code: it must never happen."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def saved_lenet(tmp_path):
    torch.manual_seed(0)
    module = create_model("lenet-lite").eval()
    return wrap(module, "lenet-lite", model_args("lenet-lite"), tuple("0123456789"), NONE).save(tmp_path / "m")


def test_export_is_exactly_torch_save_of_the_state_dict(tmp_path):
    model = load_classifier(saved_lenet(tmp_path))
    path = export_model(model, "state-dict", tmp_path / "lenet.pt")
    loaded = torch.load(path, weights_only=True)
    expected = model.module.state_dict()
    assert list(loaded) == list(expected)
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
    buffer = io.BytesIO()
    torch.save(expected, buffer)
    assert path.stat().st_size == len(buffer.getvalue())


def test_round_trip_through_the_cli_predicts_identically(tmp_path):
    model = load_classifier(saved_lenet(tmp_path))
    pt = export_model(model, "state-dict", tmp_path / "lenet.pt")
    proc = subprocess.run(CLI + ["import-state-dict", str(pt), "--model", "lenet-lite", "--out", str(tmp_path / "back"),
                                 "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["by_position"] is False
    images = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    assert np.array_equal(load_classifier(tmp_path / "back").predict_proba(images), model.predict_proba(images))


def test_the_seeds_own_layer_names_load_by_position(tmp_path):
    torch.manual_seed(1)
    seed = SeedLeNet().eval()
    torch.save(seed.state_dict(), tmp_path / "seed001.pt")
    out = import_state_dict(tmp_path / "seed001.pt", "lenet-lite", tmp_path / "imported")
    model = load_classifier(out)
    assert model.meta["imported_by_position"] is True
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model.module(x), seed(x), atol=1e-6)


def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"conv.weight": Exploit(str(marker))}, f)
    torch.save({"weights": Exploit(str(marker))}, tmp_path / "evil-zip.pt")
    for name in ("evil.pt", "evil-zip.pt"):
        proc = subprocess.run(CLI + ["import-state-dict", str(tmp_path / name), "--model", "lenet-lite", "--out",
                                     str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and "refused" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, message", [
    ([torch.zeros(3)], "expected a state_dict"),
    ({"a": torch.zeros(3), "b": 1.5}, "'b' is not a named tensor"),
    ({"conv.weight": torch.zeros(3)}, "does not fit"),
])
def test_anything_but_a_matching_state_dict_is_refused(content, message, tmp_path):
    torch.save(content, tmp_path / "x.pt")
    with pytest.raises(ModelError, match=message):
        import_state_dict(tmp_path / "x.pt", "lenet-lite", tmp_path / "out")


def test_garbage_and_missing_files_are_model_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a torch file at all")
    with pytest.raises(ModelError, match="junk.pt"):
        load_state_dict_file(tmp_path / "junk.pt")
    with pytest.raises(ModelError, match="file not found"):
        load_state_dict_file(tmp_path / "nope.pt")
