"""How well `digitlab.recognize` reads MNIST *test* digits rendered as photos (not MNIST-formatted).

Single digits: dark ink on white or tinted paper, larger canvas, off-centre, rotated, thick or thin strokes,
colour, JPEG, uneven lighting (``digitlab.vision.synthetic``). Numbers: five test digits with uneven size and
spacing. Generated deterministically from ``--seed`` (default 2026, the reported figure); nothing is stored.

Beside accuracy, how honest each reading's confidence is on these photos: the expected calibration error (15
bins) of the single digits' top probability and of the numbers' confidence (the product of their digits'
probabilities, against "the whole number exactly right"), with and without the model's calibration temperature,
and the risk-coverage table (accuracy of the most confident 100/99/95/90%) a reject option would give.

    DIGITLAB_DATA=/tmp/dl-data .venv/bin/python benchmarks/photo_eval.py --singles 1000 --numbers 300 --json
    .venv/bin/python benchmarks/photo_eval.py --plots runs/photo-calibration   # + reliability/risk-coverage PNGs
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _uncalibrated(model, reading) -> float:
    """The reading's confidence from the network's own probabilities (no temperature)."""
    return float(np.prod(model.uncalibrated_proba(np.stack(reading.crops)).max(axis=1)))


def verifier_arg(name: str):
    """``--verifier``: "shipped", "none", or a model directory / shipped name, as ``recognize`` takes it."""
    if name == "none":
        return None
    if name == "shipped":
        return name
    from digitlab.inference.classifier import load_classifier

    return load_classifier(name)


def evaluate(model, test, singles: int, numbers: int, seed: int = 2026, verifier="shipped") -> tuple[dict, dict]:
    """(figures, calibration summaries by set): accuracy, ECE and coverage on photos drawn from ``seed``;
    ``verifier``: segmentation's piece verifier (``recognize``'s argument; None: the recognizer alone)."""
    from digitlab.metrics.calibration import confidence_summary
    from digitlab.vision.reader import recognize
    from digitlab.vision.synthetic import photo_digit, photo_number

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(test), singles, replace=False)
    outcomes: dict[str, list] = {"single": [], "number": []}  # (confidence, uncalibrated confidence, right)
    for i in idx:
        reading = recognize(photo_digit(test.images[i], rng), model, multi=False)
        outcomes["single"].append((reading.confidence, _uncalibrated(model, reading),
                                   reading.digits == str(test.labels[i])))
    count_ok, reading_time = 0, 0.0
    for _ in range(numbers):
        ids = rng.choice(len(test), 5, replace=False)
        photo = photo_number(list(test.images[ids]), rng)
        start = time.perf_counter()  # only the reading is timed, not drawing the photo
        reading = recognize(photo, model, verifier=verifier)
        reading_time += time.perf_counter() - start
        outcomes["number"].append((reading.confidence, _uncalibrated(model, reading),
                                   reading.digits == "".join(str(v) for v in test.labels[ids])))
        count_ok += len(reading.items) == 5
    doc = {"singles": singles, "single_acc": _mean(outcomes["single"]), "numbers": numbers,
           "number_exact": _mean(outcomes["number"]), "number_count_right": count_ok / max(1, numbers),
           "ms_per_number": round(1000 * reading_time / max(1, numbers), 1), "seed": seed}
    summaries = {}
    for name, rows in outcomes.items():
        if not rows:
            continue
        confidence, raw, right = (np.array(column) for column in zip(*rows, strict=True))
        summary = summaries[name] = confidence_summary(confidence, right)
        doc[f"{name}_ece"] = round(summary.ece, 5)
        doc[f"{name}_ece_uncalibrated"] = round(confidence_summary(raw, right).ece, 5)
        doc[f"{name}_coverage"] = [{k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}
                                   for row in summary.coverage_table()]
        doc[f"{name}_coverage_at_{summary.target:.2%}"] = round(summary.coverage_for(), 4)
    return doc, summaries


def _mean(rows: list) -> float:
    return sum(right for *_, right in rows) / max(1, len(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--numbers", type=int, default=300)
    parser.add_argument("--model", default="default")
    parser.add_argument("--seed", type=int, default=2026, help="develop on another seed; report on 2026")
    parser.add_argument("--plots", type=Path, default=None,
                        help="write {single,number}_reliability.png and _risk_coverage.png here (default: none)")
    parser.add_argument("--verifier", default="shipped",
                        help="segmentation's piece verifier: shipped, none, or a model directory (default: shipped)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from digitlab.data import load_dataset
    from digitlab.inference.classifier import load_classifier

    start = time.perf_counter()
    doc, summaries = evaluate(load_classifier(args.model), load_dataset("mnist").test, args.singles, args.numbers,
                              args.seed, verifier_arg(args.verifier))
    doc.update(model=args.model, verifier=args.verifier, seconds=round(time.perf_counter() - start, 1))
    if args.plots is not None:
        from digitlab.metrics.plots import reliability_diagram, risk_coverage_plot

        args.plots.mkdir(parents=True, exist_ok=True)
        for name, summary in summaries.items():
            title = f"{args.model}, photos of MNIST test {name}s (seed {args.seed})"
            reliability_diagram(summary.bins, args.plots / f"{name}_reliability.png", title, summary.ece)
            risk_coverage_plot(summary.coverage, summary.accuracy, args.plots / f"{name}_risk_coverage.png", title,
                               summary.target)
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    print(f"single digits {doc['single_acc']:.2%} of {args.singles}; 5-digit numbers exact "
          f"{doc['number_exact']:.2%} of {args.numbers} (digit count right {doc['number_count_right']:.2%})")
    for name in summaries:
        table = ", ".join(f"{row['accuracy']:.2%} at {row['coverage']:.0%}" for row in doc[f"{name}_coverage"])
        print(f"{name}s: ECE {doc[f'{name}_ece']:.2%} (uncalibrated {doc[f'{name}_ece_uncalibrated']:.2%}); "
              f"accuracy {table}")


if __name__ == "__main__":
    main()
