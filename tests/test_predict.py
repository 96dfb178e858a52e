"""`digitlab predict` / digitlab.recognize on real-looking inputs and on every kind of bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

import digitlab
from digitlab.errors import ImageError

CLI = [sys.executable, "-m", "digitlab.cli"]


def drawn(strokes, size=(240, 240), width=16) -> Image.Image:
    """Dark ink on off-white paper, drawn with Pillow strokes like a pen would."""
    image = Image.new("RGB", size, (246, 242, 232))
    draw = ImageDraw.Draw(image)
    for kind, points in strokes:
        if kind == "line":
            draw.line(points, fill=(25, 25, 70), width=width, joint="curve")
        else:
            draw.ellipse(points, outline=(25, 25, 70), width=width)
    return image


SEVEN = [("line", [(60, 50), (180, 50), (100, 200)])]
ZERO = [("ellipse", [70, 40, 170, 200])]
ONE = [("line", [(120, 40), (120, 200)])]


@pytest.mark.parametrize("strokes, digit", [(SEVEN, 7), (ZERO, 0), (ONE, 1)])
def test_hand_drawn_digits_are_read(strokes, digit):
    reading = digitlab.recognize(drawn(strokes), multi=False)
    assert reading.digits == str(digit), reading.to_json()
    assert len(reading.items) == 1 and reading.items[0].box is not None


def test_a_drawn_number_is_read_left_to_right():
    image = Image.new("RGB", (640, 240), (246, 242, 232))
    draw = ImageDraw.Draw(image)
    draw.line([(60, 50), (160, 50), (95, 200)], fill=(20, 20, 60), width=16)
    draw.ellipse([230, 45, 320, 200], outline=(20, 20, 60), width=16)
    draw.line([(440, 45), (440, 200)], fill=(20, 20, 60), width=16)
    reading = digitlab.recognize(image)  # wider than tall: read as a number without being told
    assert reading.digits == "701"
    lefts = [item.box[0] for item in reading.items]
    assert lefts == sorted(lefts)


def test_min_confidence_marks_doubtful_digits():
    reading = digitlab.recognize(drawn(SEVEN), multi=False, min_confidence=1.0)
    assert reading.digits == "?" and not reading.items[0].accepted and not reading.accepted
    assert reading.items[0].digit == 7  # the best guess is kept for whoever checks a rejected reading
    sure = digitlab.recognize(drawn(SEVEN), multi=False, min_confidence=0.5)
    assert sure.digits == "7" and sure.accepted and sure.items[0].accepted


def test_predict_says_which_readings_are_not_accepted():
    with io.BytesIO() as buf:
        drawn(SEVEN).save(buf, format="PNG")
        data = buf.getvalue()
    rejected = run(["predict", "-", "--single", "--min-confidence", "1.0"], input=data)
    assert rejected.returncode == 0 and "not accepted" in rejected.stdout.decode()
    doc = json.loads(run(["predict", "-", "--single", "--min-confidence", "1.0", "--json"], input=data).stdout)
    assert doc[0]["accepted"] is False and doc[0]["items"][0]["accepted"] is False
    kept = run(["predict", "-", "--single", "--min-confidence", "0.5"], input=data)
    assert kept.returncode == 0 and "not accepted" not in kept.stdout.decode()


def test_an_mnist_ready_array_is_classified_as_is(mnist):
    assert digitlab.recognize(mnist.test.images[0]).digits == str(mnist.test.labels[0])


def test_blank_image_is_an_image_error():
    with pytest.raises(ImageError, match="no ink"):
        digitlab.recognize(Image.new("L", (100, 100), 255))


def run(args, **kw):
    return subprocess.run(CLI + args, capture_output=True, timeout=300, **kw)


def test_cli_reads_files_npy_idx_and_stdin_and_reports_every_bad_input(tmp_path, mnist):
    good = tmp_path / "seven.png"
    drawn(SEVEN).save(good)
    np.save(tmp_path / "digits.npy", mnist.test.images[:3])
    from digitlab.data.idx import write_idx

    write_idx(tmp_path / "t10k-images-idx3-ubyte", mnist.test.images[3:5])
    (tmp_path / "notes.txt").write_text("not an image")
    buf = io.BytesIO()
    drawn(ZERO).save(buf, format="PNG")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(buf.getvalue()[:200])
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000), 1).save(bomb)  # 144 megapixels, a few kB on disk

    inputs = [str(good), str(tmp_path / "digits.npy"), str(tmp_path / "t10k-images-idx3-ubyte"), "-",
              str(tmp_path / "notes.txt"), str(truncated), str(blank), str(bomb), str(tmp_path / "missing.png")]
    proc = run(["predict", *inputs, "--json", "--save-crops", str(tmp_path / "crops")], input=buf.getvalue())
    assert proc.returncode == 2
    results = json.loads(proc.stdout)
    digits = {r["path"]: r["digits"] for r in results}
    assert digits[str(good)] == "7" and digits["-"] == "0"
    labels = mnist.test.labels
    assert [digits[f"{tmp_path / 'digits.npy'}[{i}]"] for i in range(3)] == [str(v) for v in labels[:3]]
    assert [digits[f"{tmp_path / 't10k-images-idx3-ubyte'}[{i}]"] for i in range(2)] == [str(v) for v in labels[3:5]]
    first = results[0]
    assert {"path", "digits", "confidence", "accepted", "items"} <= set(first)
    assert {"digit", "probs", "top_k", "box", "accepted"} <= set(first["items"][0])
    assert len(first["items"][0]["top_k"]) == 3
    errors = proc.stderr.decode().strip().splitlines()
    assert len(errors) == 5 and "Traceback" not in proc.stderr.decode()
    for name in ("notes.txt", "cut.png", "blank.png", "bomb.png", "missing.png"):
        assert any(name in line for line in errors), name
    assert any("pixel" in line for line in errors if "bomb" in line)
    assert len(os.listdir(tmp_path / "crops")) >= 7


def test_a_28x28_image_in_mnist_form_is_classified_as_it_is(mnist):
    from digitlab.vision.crops import looks_like_mnist

    digit = np.asarray(mnist.test.images[0])
    label = str(int(mnist.test.labels[0]))
    buf = io.BytesIO()
    Image.fromarray(digit).save(buf, format="PNG")
    reading = digitlab.recognize(buf.getvalue())
    assert reading.digits == label and np.array_equal(reading.crops[0], digit)  # not re-cropped, not re-centred
    buf = io.BytesIO()
    Image.fromarray(255 - digit).save(buf, format="PNG")  # dark ink on white: a photo's polarity, so preprocessed
    reading = digitlab.recognize(buf.getvalue())
    assert reading.digits == label and not looks_like_mnist(255 - digit)
    assert not looks_like_mnist(np.pad(digit, 2)[:28, :28] * 0)  # no ink
    assert not looks_like_mnist(np.zeros((28, 30), np.uint8))
