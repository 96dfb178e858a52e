import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitlab.errors import DataError
from digitlab.metrics.evaluation import evaluate_probs
from digitlab.metrics.plots import plt
from digitlab.training.report import complete_summary, write_report

NOTE = ("Model selection used the validation split; the test split was evaluated once at the end "
        "-- the seed picked the best epoch on test.")
PNGS = ("curves.png", "confusion.png", "errors.png")


def nearest_centroid_probs(train, test, temperature=0.02):
    """A real (if weak) classifier: softmax over negative squared distances to each class's mean image."""
    x, labels = train.images[:10000].reshape(10000, -1), train.labels[:10000]  # plenty for ten means
    centroids = np.stack([x[labels == c].mean(axis=0) for c in range(10)]).astype(np.float32) / 255
    t = test.images.reshape(len(test), -1).astype(np.float32) / 255
    dist = (t**2).sum(1, keepdims=True) - 2 * t @ centroids.T + (centroids**2).sum(1)
    logits = -dist * temperature
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def history_rows(epochs, with_val=True):
    rows = []
    for e in range(epochs):
        rows.append({"epoch": e + 1, "train_loss": 1.0 / (e + 1), "train_acc": 0.8 + 0.03 * e,
                     "val_loss": 1.1 / (e + 1) if with_val else None, "val_acc": 0.78 + 0.04 * e if with_val else None,
                     "seconds": 2.0 + e, "lr": np.float32(1e-3)})
    return rows


def decoded(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("L"))


def assert_real_figure(path: Path, min_side=150):
    pixels = decoded(path)
    assert min(pixels.shape) >= min_side, f"{path.name} is only {pixels.shape}"
    assert pixels.std() > 5, f"{path.name} is blank"
    assert (pixels < 200).mean() > 0.005, f"{path.name} has almost nothing drawn"


@pytest.fixture(scope="module")
def mnist_run(mnist, tmp_path_factory):
    train, _ = mnist.split_validation()
    test = mnist.test.take(slice(0, 3000))
    evaluation = evaluate_probs(test.labels, nearest_centroid_probs(train, test))
    run_dir = tmp_path_factory.mktemp("run")
    history = history_rows(4)
    config = {"model": "centroid", "lr": np.float64(1e-3), "data_dir": Path("/tmp/x"), "layers": (784, 10)}
    doc = write_report(run_dir, title="Nearest centroid on MNIST", config=config, history=history,
                       evaluation=evaluation, images=test.images,
                       summary={"model": "centroid", "recipe": "seed-001", "target_acc": 0.85}, notes=[NOTE])
    return run_dir, doc, evaluation, history


def test_writes_all_files_atomically(mnist_run):
    run_dir, *_ = mnist_run
    for name in ("report.md", "report.json", *PNGS):
        assert (run_dir / name).is_file()
    assert not list(run_dir.glob(".*.tmp")), "no temp files left behind"


def test_pngs_are_valid_and_drawn(mnist_run):
    run_dir, *_ = mnist_run
    for name in PNGS:
        assert_real_figure(run_dir / name)


def test_report_json_is_the_returned_document(mnist_run):
    run_dir, doc, evaluation, history = mnist_run
    on_disk = json.loads((run_dir / "report.json").read_text())
    assert on_disk == doc
    json.dumps(doc, allow_nan=False)
    for key in ("summary", "config", "history", "evaluation", "notes"):
        assert key in doc
    assert doc["evaluation"]["accuracy"] == evaluation.accuracy
    assert doc["evaluation"]["confusion"] == evaluation.confusion.tolist()
    assert len(doc["history"]) == len(history)
    assert doc["config"]["data_dir"] == "/tmp/x" and doc["config"]["layers"] == [784, 10]
    assert doc["summary"]["test_acc"] == evaluation.accuracy
    assert doc["summary"]["best_val_acc"] == max(h["val_acc"] for h in history)
    assert doc["summary"]["train_seconds"] == pytest.approx(sum(h["seconds"] for h in history))


def test_report_md_has_summary_notes_tables_and_links(mnist_run):
    run_dir, doc, evaluation, history = mnist_run
    md = (run_dir / "report.md").read_text()
    assert md.startswith("# Nearest centroid on MNIST")
    assert f"{evaluation.accuracy:.2%}" in md
    assert f"- {NOTE}" in md
    assert "seed-001" in md
    for name in PNGS:
        assert f"]({name})" in md
    assert evaluation.confusion_text() in md
    epoch_rows = [line for line in md.splitlines() if line.startswith("| ") and line.endswith("|")
                  and line.split("|")[1].strip().isdigit() and "%" in line and " s |" in line]
    assert len(epoch_rows) == len(history)
    for row in evaluation.per_class:
        assert f"| {row['class']} | {row['precision']:.4f} | {row['recall']:.4f}" in md
    assert "Time to 85.00% validation accuracy" in md


def test_one_epoch_without_validation_and_no_mistakes(tmp_path):
    labels = np.array([0, 1, 1, 0])
    evaluation = evaluate_probs(labels, np.eye(2)[labels], classes=("0", "1"))
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    doc = write_report(tmp_path, title="perfect", config={}, history=history_rows(1, with_val=False),
                       evaluation=evaluation, images=images, summary={})
    for name in PNGS:
        assert_real_figure(tmp_path / name)
    md = (tmp_path / "report.md").read_text()
    assert "100.00%" in md and "None: every image was classified correctly." in md
    assert "best_val_acc" not in doc["summary"]


def test_errors_png_differs_between_mistakes_and_none(tmp_path):
    labels = np.array([0, 1, 1, 0])
    images = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    for name, preds in (("none", labels), ("some", np.array([1, 1, 0, 0]))):
        evaluation = evaluate_probs(labels, np.eye(2)[preds] * 0.8 + 0.1, classes=("0", "1"))
        write_report(tmp_path / name, title=name, config={}, history=history_rows(2), evaluation=evaluation,
                     images=images, summary={})
    assert decoded(tmp_path / "none" / "errors.png").shape != decoded(tmp_path / "some" / "errors.png").shape


def test_no_history_still_writes_curves(tmp_path):
    evaluation = evaluate_probs(np.array([0, 1]), np.array([[0.6, 0.4], [0.3, 0.7]]), classes=("0", "1"))
    write_report(tmp_path, title="pretrained", config={}, history=[], evaluation=evaluation,
                 images=np.zeros((2, 28, 28), np.uint8), summary={"eval_split": "validation"})
    assert_real_figure(tmp_path / "curves.png", min_side=50)
    md = (tmp_path / "report.md").read_text()
    assert "No epochs recorded." in md and "validation split" in md


def test_time_to_target_from_history():
    evaluation = evaluate_probs(np.array([0]), np.array([[1.0, 0.0]]), classes=("0", "1"))
    history = history_rows(4)  # val_acc 0.78, 0.82, 0.86, 0.90; seconds 2, 3, 4, 5
    summary = complete_summary({"target_acc": 0.85}, history, evaluation)
    assert summary["epoch_to_target"] == history[2]["epoch"]
    assert summary["seconds_to_target"] == pytest.approx(sum(h["seconds"] for h in history[:3]))
    never = complete_summary({"target_acc": 0.99}, history, evaluation)
    assert never["epoch_to_target"] is None and never["seconds_to_target"] is None
    kept = complete_summary({"target_acc": 0.85, "seconds_to_target": 1.5, "epochs": 9}, history, evaluation)
    assert kept["seconds_to_target"] == 1.5 and kept["epochs"] == 9


def test_runner_style_summary_keys_are_labelled_and_formatted(tmp_path):
    evaluation = evaluate_probs(np.array([0, 1]), np.array([[0.6, 0.4], [0.3, 0.7]]), classes=("0", "1"))
    history = history_rows(3)
    summary = {"model": "lenet", "recipe": "seed-001", "epochs_run": len(history), "time_to_target_s": 12.25,
               "train_seconds": 30.5}
    doc = write_report(tmp_path, title="x", config={}, history=history, evaluation=evaluation,
                       images=np.zeros((2, 28, 28), np.uint8), summary=summary)
    md = (tmp_path / "report.md").read_text()
    assert md.count("| Epochs |") == 1 and f"| Epochs | {len(history)} |" in md
    assert "| Time to target | 12.2 s |" in md and "| Training time | 30.5 s |" in md
    assert doc["summary"]["train_seconds"] == 30.5, "given values win over ones derived from the history"


def test_extra_plots_are_saved_and_linked(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    evaluation = evaluate_probs(np.array([0, 1]), np.array([[0.6, 0.4], [0.3, 0.7]]), classes=("0", "1"))
    doc = write_report(tmp_path, title="x", config={}, history=history_rows(2), evaluation=evaluation,
                       images=np.zeros((2, 28, 28), np.uint8), summary={},
                       extra_plots={"Quantum expectation": fig})
    assert doc["figures"]["Quantum expectation"] == "quantum_expectation.png"
    assert_real_figure(tmp_path / "quantum_expectation.png", min_side=100)
    assert "](quantum_expectation.png)" in (tmp_path / "report.md").read_text()


def test_images_that_do_not_cover_the_mistakes_are_rejected(tmp_path):
    evaluation = evaluate_probs(np.array([0, 1, 1]), np.array([[0.6, 0.4], [0.3, 0.7], [0.9, 0.1]]),
                                classes=("0", "1"))
    with pytest.raises(DataError, match="images"):
        write_report(tmp_path, title="x", config={}, history=[], evaluation=evaluation,
                     images=np.zeros((2, 28, 28), np.uint8), summary={})
