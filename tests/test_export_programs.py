"""The C++ (libtorch) and C programs, built with the system toolchain, must reproduce Python's figures exactly."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from digitlab.data.idx import write_idx
from digitlab.export import export_model
from digitlab.export.c_export import compile_c
from digitlab.export.c_quantize import integer_logits, quantize
from digitlab.export.check import INT8_MAX_ACCURACY_DROP, reference_logits
from digitlab.export.quantize import calibration_subset
from digitlab.inference.classifier import load_classifier
from export_helpers import trained_model_dir

CPP_SOURCE = Path(__file__).resolve().parents[1] / "examples" / "cpp"
ACCURACY = re.compile(r"accuracy: ([0-9.]+) \((\d+)/(\d+)\)")


@pytest.fixture(scope="module")
def lenet(mnist, tmp_path_factory):
    return load_classifier(trained_model_dir("lenet-lite", ("none", 0.0, 1.0), mnist, tmp_path_factory))


@pytest.fixture(scope="module")
def raw_test_set(mnist, tmp_path_factory):
    """The MNIST test split as uncompressed IDX files, as the programs read them."""
    directory = tmp_path_factory.mktemp("idx")
    write_idx(directory / "t10k-images-idx3-ubyte", mnist.test.images)
    write_idx(directory / "t10k-labels-idx1-ubyte", mnist.test.labels.astype(np.uint8))
    return directory / "t10k-images-idx3-ubyte", directory / "t10k-labels-idx1-ubyte"


@pytest.fixture(scope="session")
def cpp_program(request):
    """mnist_torchscript, built once per session (cached across sessions in pytest's cache: cmake rebuilds only
    what changed). The libtorch build is the slow part of this file."""
    if not (shutil.which("cmake") and shutil.which("c++")):
        pytest.skip("cmake and a C++ compiler are needed for the C++ example")
    import torch.utils

    build = Path(request.config.cache.mkdir("digitlab-cpp-build"))
    start = time.perf_counter()
    configure = subprocess.run(["cmake", "-S", str(CPP_SOURCE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                                f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}"],
                               capture_output=True, text=True)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    compiled = subprocess.run(["cmake", "--build", str(build)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    print(f"C++ example built in {time.perf_counter() - start:.1f} s")
    return build / "mnist_torchscript"


def parse_accuracy(stdout: str) -> tuple[float, int, int]:
    match = ACCURACY.search(stdout)
    assert match, stdout
    return float(match[1]), int(match[2]), int(match[3])


def test_cpp_program_reproduces_pytorch_exactly(cpp_program, lenet, mnist, raw_test_set, tmp_path):
    model_path = export_model(lenet, "torchscript", tmp_path / "lenet.pt")
    predictions = tmp_path / "predictions.u8"
    proc = subprocess.run([str(cpp_program), str(model_path), *map(str, raw_test_set), "--batch", "1000",
                           "--predictions", str(predictions)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    expected = reference_logits(lenet, mnist.test.images).argmax(axis=1)
    assert np.array_equal(np.fromfile(predictions, np.uint8), expected)  # the same argmax for every image
    _, correct, total = parse_accuracy(proc.stdout)
    assert (correct, total) == (int((expected == mnist.test.labels).sum()), len(mnist.test))
    assert "confusion matrix" in proc.stdout and len(proc.stdout.splitlines()) >= 12


def test_cpp_program_rejects_compressed_idx(cpp_program, lenet, mnist_dir, tmp_path):
    model_path = export_model(lenet, "torchscript", tmp_path / "lenet.pt")
    gz = mnist_dir / "mnist" / "t10k-images-idx3-ubyte.gz"
    proc = subprocess.run([str(cpp_program), str(model_path), str(gz), str(gz)], capture_output=True, text=True)
    assert proc.returncode == 1 and "gunzip" in proc.stderr


def test_c_program_builds_warning_free_and_matches_the_integer_reference(lenet, mnist, raw_test_set, tmp_path):
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler")
    directory = export_model(lenet, "c", tmp_path / "c", calibration=mnist.train_full.images)
    exe = compile_c(directory, tmp_path / "mnist_c", extra=("-Werror", "-Wconversion"))
    logits_file = tmp_path / "logits.i32"
    proc = subprocess.run([str(exe), *map(str, raw_test_set), "--logits", str(logits_file)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    c_logits = np.fromfile(logits_file, np.int32).reshape(len(mnist.test), 10)
    # Python's figure: the same integer arithmetic replayed in NumPy/torch, bit for bit.
    net = quantize(lenet, calibration_subset(mnist.train_full.images, 2000))
    assert np.array_equal(c_logits, integer_logits(net, mnist.test.images))
    predicted = c_logits.argmax(axis=1)
    _, correct, total = parse_accuracy(proc.stdout)
    assert (correct, total) == (int((predicted == mnist.test.labels).sum()), len(mnist.test))
    fp32 = float((reference_logits(lenet, mnist.test.images).argmax(axis=1) == mnist.test.labels).mean())
    assert correct / total >= fp32 - INT8_MAX_ACCURACY_DROP


def test_c_header_holds_int8_weights_and_no_floating_point_code(lenet, mnist, tmp_path):
    directory = export_model(lenet, "c", tmp_path / "c", calibration=mnist.train_full.images)
    weights = (directory / "digitlab_weights.h").read_text()
    assert "static const int8_t dl_w0[36]" in weights  # conv 1->4, 3x3
    code = (directory / "digitlab_model.c").read_text() + (directory / "digitlab_nn.h").read_text()
    assert not re.search(r"\b(float|double)\b", code)  # integer-only: what an HLS tool maps to DSP slices
