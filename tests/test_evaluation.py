import json
import math

import numpy as np
import pytest

from digitlab.errors import DataError, ModelError
from digitlab.metrics.evaluation import evaluate_probs


def one_hot_probs(preds, n_classes, confidence=0.9):
    """Rows that put ``confidence`` on the predicted class and share the rest evenly."""
    probs = np.full((len(preds), n_classes), (1 - confidence) / (n_classes - 1))
    probs[np.arange(len(preds)), preds] = confidence
    return probs


def random_probs(rng, n, n_classes):
    logits = rng.normal(size=(n, n_classes)) * 2
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def brute_force(labels, probs, n_classes):
    """The metrics the slow obvious way, one example and one class at a time."""
    preds = [max(range(n_classes), key=lambda c, row=row: (row[c], -c)) for row in probs]
    confusion = [[0] * n_classes for _ in range(n_classes)]
    for t, p in zip(labels, preds, strict=True):
        confusion[t][p] += 1
    per_class = []
    for c in range(n_classes):
        tp = sum(1 for t, p in zip(labels, preds, strict=True) if t == c and p == c)
        predicted = sum(1 for p in preds if p == c)
        support = sum(1 for t in labels if t == c)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append((precision, recall, f1, support))
    loss = sum(-math.log(probs[i][t]) for i, t in enumerate(labels)) / len(labels)
    accuracy = sum(1 for t, p in zip(labels, preds, strict=True) if t == p) / len(labels)
    return accuracy, confusion, per_class, loss, preds


def test_hand_computed_three_classes():
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array([
        [0.7, 0.2, 0.1],  # 0 -> 0
        [0.3, 0.6, 0.1],  # 0 -> 1 (mistake, p=0.6)
        [0.1, 0.8, 0.1],  # 1 -> 1
        [0.2, 0.5, 0.3],  # 1 -> 1
        [0.1, 0.1, 0.8],  # 2 -> 2
        [0.9, 0.05, 0.05],  # 2 -> 0 (mistake, p=0.9)
    ])
    ev = evaluate_probs(labels, probs, classes=("a", "b", "c"))

    assert ev.n == 6
    assert ev.accuracy == pytest.approx(4 / 6)
    np.testing.assert_array_equal(ev.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    assert ev.confusion.dtype == np.int64
    a, b, c = ev.per_class
    assert (a["class"], a["precision"], a["recall"], a["support"]) == ("a", 0.5, 0.5, 2)
    assert a["f1"] == pytest.approx(0.5)
    assert b["precision"] == pytest.approx(2 / 3) and b["recall"] == 1.0
    assert b["f1"] == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    assert c["precision"] == 1.0 and c["recall"] == 0.5 and c["f1"] == pytest.approx(2 / 3)
    assert ev.macro_f1 == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    expected_loss = -(math.log(0.7) + math.log(0.3) + math.log(0.8) + math.log(0.5) + math.log(0.8)
                      + math.log(0.05)) / 6
    assert ev.loss == pytest.approx(expected_loss)
    assert ev.mistakes == [
        {"index": 5, "true": 2, "pred": 0, "confidence": pytest.approx(0.9)},
        {"index": 1, "true": 0, "pred": 1, "confidence": pytest.approx(0.6)},
    ]


@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_on_random_data(seed, n_classes):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    labels = rng.integers(0, n_classes, size=n)
    probs = random_probs(rng, n, n_classes)
    accuracy, confusion, per_class, loss, preds = brute_force(labels.tolist(), probs.tolist(), n_classes)

    ev = evaluate_probs(labels, probs, classes=[str(c) for c in range(n_classes)], top_mistakes=n)

    assert ev.accuracy == pytest.approx(accuracy)
    np.testing.assert_array_equal(ev.confusion, confusion)
    for row, (precision, recall, f1, support) in zip(ev.per_class, per_class, strict=True):
        assert row["precision"] == pytest.approx(precision)
        assert row["recall"] == pytest.approx(recall)
        assert row["f1"] == pytest.approx(f1)
        assert row["support"] == support
    assert ev.loss == pytest.approx(loss)
    wrong = {i for i in range(n) if preds[i] != labels[i]}
    assert {m["index"] for m in ev.mistakes} == wrong


@pytest.mark.parametrize("seed", [0, 1])
def test_confusion_sums(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=500)
    probs = random_probs(rng, 500, 10)
    ev = evaluate_probs(labels, probs)
    assert ev.confusion.sum() == 500
    np.testing.assert_array_equal(ev.confusion.sum(axis=1), np.bincount(labels, minlength=10))
    np.testing.assert_array_equal(ev.confusion.sum(axis=0), np.bincount(probs.argmax(axis=1), minlength=10))
    assert [r["support"] for r in ev.per_class] == np.bincount(labels, minlength=10).tolist()
    assert np.trace(ev.confusion) == round(ev.accuracy * 500) == 500 - ev.errors


def test_absent_and_never_predicted_classes_score_zero_not_nan():
    labels = np.array([0, 0, 1, 1])  # classes 2..9 absent
    probs = one_hot_probs(np.array([0, 0, 0, 1]), 10)  # class 1 predicted once, 2..9 never
    ev = evaluate_probs(labels, probs)
    for row in ev.per_class[2:]:
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == (0.0, 0.0, 0.0, 0)
    assert all(math.isfinite(v) for row in ev.per_class for v in (row["precision"], row["recall"], row["f1"]))
    # macro F1 averages only the classes that occur (in labels or predictions), as scikit-learn does
    assert ev.macro_f1 == pytest.approx((ev.per_class[0]["f1"] + ev.per_class[1]["f1"]) / 2)


def test_class_predicted_but_absent_from_labels_counts_in_macro_f1():
    labels = np.array([0, 0, 1])
    ev = evaluate_probs(labels, one_hot_probs(np.array([0, 2, 1]), 3), classes=("0", "1", "2"))
    assert ev.per_class[2]["precision"] == 0.0 and ev.per_class[2]["support"] == 0
    assert ev.macro_f1 == pytest.approx(sum(r["f1"] for r in ev.per_class) / 3)


def test_two_classes_seed_000_style_outputs():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, size=50)
    p = rng.uniform(size=50)
    probs = np.stack([p, 1 - p], axis=1)
    ev = evaluate_probs(labels, probs, classes=("0", "1"))
    assert ev.confusion.shape == (2, 2)
    assert ev.accuracy == pytest.approx(np.mean((p < 0.5).astype(int) == labels))
    assert ev.loss is not None and ev.loss > 0


def test_loss_is_none_when_rows_are_not_distributions():
    labels = np.array([0, 1, 2])
    sigmoid_outputs = np.array([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6], [0.1, 0.1, 0.3]])  # Nielsen-style outputs
    ev = evaluate_probs(labels, sigmoid_outputs, classes=("0", "1", "2"))
    assert ev.loss is None
    assert ev.accuracy == 1.0


def test_loss_is_finite_when_true_class_has_zero_probability():
    ev = evaluate_probs(np.array([0, 1]), np.array([[0.0, 1.0], [0.0, 1.0]]), classes=("0", "1"))
    assert ev.loss is not None and math.isfinite(ev.loss) and ev.loss > 10


def test_mistakes_sorted_limited_and_ties_keep_dataset_order():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 10, size=400)
    probs = random_probs(rng, 400, 10)
    ev = evaluate_probs(labels, probs, top_mistakes=7)
    assert len(ev.mistakes) == 7
    confidences = [m["confidence"] for m in ev.mistakes]
    assert confidences == sorted(confidences, reverse=True)
    all_wrong = probs.argmax(axis=1) != labels
    worst_left_out = probs[all_wrong].max(axis=1)
    assert confidences[-1] >= np.sort(worst_left_out)[-7]
    for m in ev.mistakes:
        assert m["true"] == labels[m["index"]] != m["pred"] == probs[m["index"]].argmax()
        assert m["confidence"] == pytest.approx(probs[m["index"], m["pred"]])

    tied = evaluate_probs(np.array([1, 1, 1]), one_hot_probs(np.array([0, 0, 0]), 2, 0.8), classes=("0", "1"))
    assert [m["index"] for m in tied.mistakes] == [0, 1, 2]
    assert evaluate_probs(labels, probs, top_mistakes=0).mistakes == []


def test_to_json_is_strict_json_with_the_documented_keys():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, size=100)
    ev = evaluate_probs(labels, random_probs(rng, 100, 10))
    doc = json.loads(json.dumps(ev.to_json(), allow_nan=False))
    for key in ("accuracy", "n", "per_class", "confusion", "mistakes", "loss", "classes", "macro_f1"):
        assert key in doc
    assert doc["confusion"] == ev.confusion.tolist()
    assert isinstance(doc["per_class"], list) and len(doc["per_class"]) == 10
    assert set(doc["per_class"][0]) == {"class", "precision", "recall", "f1", "support"}
    assert set(doc["mistakes"][0]) == {"index", "true", "pred", "confidence"}
    assert doc["accuracy"] == ev.accuracy and doc["n"] == 100


def parse_confusion_text(text, n_classes):
    rows = text.splitlines()[1:1 + n_classes]
    return [[int(v) for v in row.split()[-n_classes:]] for row in rows]


@pytest.mark.parametrize("classes", [tuple("0123456789"),
                                     ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                      "Sneaker", "Bag", "Ankle boot")])
def test_confusion_text_round_trips_and_reports_accuracy(classes):
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 10, size=2000)
    ev = evaluate_probs(labels, random_probs(rng, 2000, 10), classes=classes)
    text = ev.confusion_text()
    assert parse_confusion_text(text, 10) == ev.confusion.tolist()
    assert f"{ev.accuracy:.2%}" in text.splitlines()[-1]
    for name in classes:
        assert name in text
    widths = {len(line) for line in text.splitlines()[:11]}
    assert len(widths) == 1, "rows are aligned"
    assert max(widths) <= 80, "fits a terminal"


def test_summary_text_has_accuracy_macro_f1_and_a_row_per_class():
    labels = np.array([0, 1, 1])
    ev = evaluate_probs(labels, one_hot_probs(np.array([0, 1, 0]), 2), classes=("zero", "one"))
    text = ev.summary_text()
    assert f"{ev.accuracy:.2%}" in text
    assert f"{ev.macro_f1:.4f}" in text
    assert any(line.startswith("zero") for line in text.splitlines())
    assert any(line.startswith("one") and f"{ev.per_class[1]['recall']:.4f}" in line for line in text.splitlines())


def test_bad_inputs_raise_user_errors():
    probs = one_hot_probs(np.array([0, 1]), 10)
    with pytest.raises(ModelError, match="shape"):
        evaluate_probs(np.array([0, 1]), probs[:, :2])  # a 2-class model scored against 10 classes
    with pytest.raises(DataError):
        evaluate_probs(np.array([0, 1, 2]), probs)
    with pytest.raises(DataError, match="0..9"):
        evaluate_probs(np.array([0, 10]), probs)
    with pytest.raises(DataError, match="nothing"):
        evaluate_probs(np.array([], dtype=np.int64), np.zeros((0, 10)))
    with pytest.raises(ModelError, match="NaN"):
        evaluate_probs(np.array([0, 1]), np.full((2, 10), np.nan))
