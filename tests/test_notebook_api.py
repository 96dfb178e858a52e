"""The Python API in Jupyter: digitlab.show, the HTML/PNG displays of results, the notebook progress bar."""

from __future__ import annotations

import io

import numpy as np
import pytest
from IPython.lib.pretty import pretty
from PIL import Image

import digitlab
from digitlab.errors import DigitlabError
from digitlab.metrics.evaluation import evaluate_probs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    return Image.open(io.BytesIO(data)).size


def test_show_is_the_function_even_after_its_module_is_imported() -> None:
    import digitlab.notebook.grid  # noqa: F401 - importing a submodule binds its name on the package

    assert callable(digitlab.show)
    assert "show" in digitlab.__all__


def test_show_titles_labels_and_marks_wrong_predictions(mnist) -> None:
    test = mnist.test
    labels = test.labels[:10]
    predictions = labels.copy()
    predictions[3] = (labels[3] + 1) % 10
    grid = digitlab.show(test.images[:10], labels=labels, predictions=predictions)
    assert grid.titles[0] == str(labels[0]) and grid.colors[0] == "black"
    assert grid.titles[3] == f"{labels[3]}→{predictions[3]}" and grid.colors[3] == "red"
    assert grid.colors.count("red") == 1
    png_size(grid._repr_png_())


def test_show_takes_a_split_and_grows_with_the_images(mnist) -> None:
    small = digitlab.show(mnist.test.take(slice(0, 4)))
    large = digitlab.show(mnist.test.take(slice(0, 64)))
    assert small.titles == [str(v) for v in mnist.test.labels[:4]]
    (w_small, h_small), (w_large, h_large) = png_size(small._repr_png_()), png_size(large._repr_png_())
    assert w_large > w_small and h_large > h_small


def test_show_accepts_floats_and_a_single_image_and_saves(tmp_path) -> None:
    image = np.zeros((28, 28), np.float32)
    image[8:20, 12:16] = 1.0
    grid = digitlab.show(image, title="a bar")
    assert len(grid.images) == 1 and grid.images[0].max() == 255
    grid.save(tmp_path / "grid.png")
    png_size((tmp_path / "grid.png").read_bytes())


@pytest.mark.parametrize(("images", "kwargs", "message"), [
    (np.zeros((3, 5, 5)), {}, "shape"),
    (np.zeros((0, 28, 28)), {}, "no images"),
    (np.zeros((3, 28, 28)), {"labels": [1, 2]}, "2 given for 3 images"),
    (np.zeros((2, 28, 28)), {"labels": [0, 7], "classes": ("a", "b")}, "class indices"),
    (np.zeros((401, 28, 28)), {}, "too many"),
    (np.zeros((2, 28, 28)), {"cols": 0}, "cols"),
])
def test_show_refuses_bad_input_with_a_clear_message(images, kwargs, message) -> None:
    with pytest.raises(DigitlabError, match=message):
        digitlab.show(images, **kwargs)


def toy_evaluation():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 2, 0]] * 0.8 + 0.2 / 3
    return evaluate_probs(labels, probs, classes=("0", "1", "2"))


def test_evaluation_displays_its_tables_and_heatmap() -> None:
    evaluation = toy_evaluation()
    page = evaluation._repr_html_()
    assert f"accuracy {evaluation.accuracy:.2%}" in page
    assert "confusion matrix" in page and page.count("<tr>") == 3 + 3 + 2  # per-class rows, confusion rows, heads
    assert "data:image/png;base64," in page
    png_size(evaluation._repr_png_())
    text = pretty(evaluation)
    assert "\n" not in text and f"{evaluation.errors} errors" in text


def test_train_result_displays_its_epochs_and_curves(tmp_path, mnist_dir) -> None:
    result = digitlab.train("mlp-512", epochs=2, limit=300, run_dir=tmp_path / "run", data_dir=str(mnist_dir))
    page = result._repr_html_()
    assert f"{result.test_acc:.2%}" in page and f"{result.best_val_acc:.2%}" in page
    summary_rows = 7 + (1 if result.recipe.published else 0)
    assert page.count("<tr>") == 2 + summary_rows + 2  # two epochs, the summary, two header rows
    for record in result.history:
        assert f"{record['val_acc']:.2%}" in page
    assert str(tmp_path) in page  # the run directory, as given
    png_size(result._repr_png_())
    text = pretty(result)
    assert "\n" not in text and "2 epoch(s)" in text and "Recipe(" not in text


def test_reading_displays_each_digit_with_its_probabilities(mnist) -> None:
    digit = mnist.test.images[0]
    reading = digitlab.recognize(digit)
    assert reading.digits == str(mnist.test.labels[0])
    page = reading._repr_html_()
    assert f">{reading.digits}</b>" in page and "data:image/png;base64," in page
    width, height = png_size(reading._repr_png_())
    assert width > 0 and height > 0
    assert pretty(reading).startswith(f"Reading('{reading.digits}'")


def test_notebook_progress_snapshot_is_plain_text_without_control_codes() -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from digitlab.notebook.progress import Snapshot

    progress = Progress(TextColumn("epoch 1/2"), BarColumn(), MofNCompleteColumn(), auto_refresh=False)
    task = progress.add_task("train", total=10)
    progress.update(task, completed=4)
    bundle = Snapshot(progress.make_tasks_table(progress.tasks))._repr_mimebundle_()
    assert "epoch 1/2" in bundle["text/plain"] and "4/10" in bundle["text/plain"]
    assert "\x1b" not in bundle["text/plain"] and "\x1b" not in bundle["text/html"]
    assert bundle["text/html"].startswith("<pre") and "4/10" in bundle["text/html"]
