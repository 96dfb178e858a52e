"""How well `digitlab.recognize` reads writers and styles it never trained on (the out-of-distribution benchmark).

Sets, each rendered as photos by ``digitlab.vision.synthetic`` (paper, pen colour, light, blur, JPEG):

- ``uci``: scikit-learn's UCI digits (1,797 digits by 43 other writers, 8x8, upscaled): every digit as a single
  photo, and numbers of 3-6 of them (touching neighbours included: gaps down to -0.05 digit heights).
- ``style``: MNIST *test* digits under writing-style transforms (``digitlab.vision.styles``: slant left/right,
  thick/thin strokes, narrow/wide hands, plain): singles per style, and numbers of 3-6 digits in one style
  with touching neighbours (gaps -0.06..0.1 digit heights).
- ``size``: MNIST test digits, small (28-60 px high) against large (140-250 px high), singles and numbers.

Everything is generated from ``--seed`` (default 2026, the reported figure); nothing is stored, and none of it
is ever training data. Reported: singles accuracy, numbers exactly right (and with the right digit count).

    .venv/bin/python benchmarks/ood_eval.py --model default --json
    .venv/bin/python benchmarks/ood_eval.py --quick          # a few hundred images, for a look
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

NUMBER_LENGTHS = (3, 4, 5, 6)
TOUCHING_GAP = (-0.06, 0.1)  # touching and nearly touching neighbours
UCI_GAP = (-0.05, 0.5)  # photo_number's default spacing: touching pairs included
SMALL, LARGE = (28, 60), (140, 250)  # digit heights in pixels


def _single(model, image28: np.ndarray, label: int, rng: np.random.Generator, **photo) -> bool:
    from digitlab.vision.reader import recognize
    from digitlab.vision.synthetic import photo_digit

    return recognize(photo_digit(image28, rng, **photo), model, multi=False).digits == str(label)


def _number(model, images: list[np.ndarray], labels: list[int], rng: np.random.Generator, verifier="shipped",
            **photo) -> tuple[bool, bool]:
    from digitlab.vision.reader import recognize
    from digitlab.vision.synthetic import photo_number

    reading = recognize(photo_number(images, rng, **photo), model, verifier=verifier)
    return reading.digits == "".join(str(v) for v in labels), len(reading.items) == len(labels)


def _sized(height: tuple[int, int], rng: np.random.Generator) -> dict:
    """photo_digit arguments for a digit ``height`` px high on a canvas a little larger than it."""
    target = int(rng.integers(height[0], height[1] + 1))
    side = int(target / 0.7) + 4
    return {"canvas": (side, side), "digit_share": (0.7, 0.7)}


def _tally(results: list[tuple[bool, bool]]) -> dict:
    n = max(1, len(results))
    return {"n": len(results), "exact": sum(r[0] for r in results) / n, "count_right": sum(r[1] for r in results) / n}


def evaluate(model, test, singles: int, numbers: int, seed: int = 2026, all_uci: bool = True,
             verifier="shipped") -> dict:
    """All sets for one model; ``singles`` / ``numbers`` per style and per size; UCI singles: all 1,797
    (``all_uci``) or ``singles`` of them; ``verifier``: segmentation's piece verifier (None: none)."""
    from sklearn.datasets import load_digits

    from digitlab.vision.styles import STYLES, styled, upscale_uci

    rng = np.random.default_rng(seed)
    uci = load_digits()
    uci_images = [upscale_uci(image) for image in uci.images]
    uci_labels = [int(v) for v in uci.target]
    doc: dict = {"seed": seed}

    start = time.perf_counter()
    uci_count = len(uci_images) if all_uci else min(singles, len(uci_images))
    order = rng.permutation(len(uci_images))[:uci_count]
    right = [_single(model, uci_images[i], uci_labels[i], rng) for i in order]
    doc["uci_singles"] = {"n": len(right), "acc": sum(right) / max(1, len(right))}
    results = []
    for _ in range(numbers):
        ids = rng.choice(len(uci_images), int(rng.choice(NUMBER_LENGTHS)), replace=False)
        results.append(_number(model, [uci_images[i] for i in ids], [uci_labels[i] for i in ids], rng, verifier,
                               gap=UCI_GAP))
    doc["uci_numbers"] = _tally(results)
    doc["uci_seconds"] = round(time.perf_counter() - start, 1)

    start = time.perf_counter()
    by_style: dict = {}
    for style in STYLES:
        ids = rng.choice(len(test), singles, replace=False)
        right = [_single(model, styled(test.images[i], style, rng), int(test.labels[i]), rng) for i in ids]
        results = []
        for _ in range(numbers):
            ids = rng.choice(len(test), int(rng.choice(NUMBER_LENGTHS)), replace=False)
            images = [styled(test.images[i], style, rng) for i in ids]
            results.append(_number(model, images, [int(test.labels[i]) for i in ids], rng, verifier, gap=TOUCHING_GAP))
        by_style[style] = {"singles": {"n": len(right), "acc": sum(right) / max(1, len(right))},
                           "numbers": _tally(results)}
    doc["style"] = by_style
    doc["style_seconds"] = round(time.perf_counter() - start, 1)

    start = time.perf_counter()
    by_size: dict = {}
    for name, height in (("small", SMALL), ("large", LARGE)):
        ids = rng.choice(len(test), singles, replace=False)
        right = [_single(model, test.images[i], int(test.labels[i]), rng, **_sized(height, rng)) for i in ids]
        results = []
        for _ in range(numbers):
            ids = rng.choice(len(test), int(rng.choice(NUMBER_LENGTHS)), replace=False)
            results.append(_number(model, list(test.images[ids]), [int(v) for v in test.labels[ids]], rng, verifier,
                                   digit_height=height, gap=TOUCHING_GAP))
        by_size[name] = {"height_px": list(height), "numbers": _tally(results),
                         "singles": {"n": len(right), "acc": sum(right) / max(1, len(right))}}
    doc["size"] = by_size
    doc["size_seconds"] = round(time.perf_counter() - start, 1)

    styled_numbers = [r for s in by_style.values() for r in [s["numbers"]]]
    doc["style_numbers_exact"] = float(np.mean([s["exact"] for s in styled_numbers]))
    doc["style_singles_acc"] = float(np.mean([s["singles"]["acc"] for s in by_style.values()]))
    return doc


def table(doc: dict) -> str:
    """The figures as Markdown rows: set | singles | numbers exact (count right)."""
    uci, numbers = doc["uci_singles"], doc["uci_numbers"]
    rows = ["| set | singles | numbers exactly right (digit count right) |", "|---|---|---|",
            f"| UCI digits (43 writers) | {uci['acc']:.2%} of {uci['n']} | "
            f"{numbers['exact']:.2%} of {numbers['n']} ({numbers['count_right']:.1%}) |"]
    for style, figures in doc["style"].items():
        rows.append(f"| MNIST test, {style}, touching | {figures['singles']['acc']:.2%} of {figures['singles']['n']} | "
                    f"{figures['numbers']['exact']:.2%} of {figures['numbers']['n']} "
                    f"({figures['numbers']['count_right']:.1%}) |")
    for name, figures in doc["size"].items():
        low, high = figures["height_px"]
        rows.append(f"| MNIST test, {name} ({low}-{high} px), touching | {figures['singles']['acc']:.2%} of "
                    f"{figures['singles']['n']} | {figures['numbers']['exact']:.2%} of {figures['numbers']['n']} "
                    f"({figures['numbers']['count_right']:.1%}) |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="a model name or directory")
    parser.add_argument("--singles", type=int, default=400, help="per style and size (UCI: all 1,797 but --quick)")
    parser.add_argument("--numbers", type=int, default=150, help="per set, style and size")
    parser.add_argument("--seed", type=int, default=2026, help="develop on another seed; report on 2026")
    parser.add_argument("--quick", action="store_true", help="60 singles and 20 numbers per set")
    parser.add_argument("--verifier", default="shipped",
                        help="segmentation's piece verifier: shipped, none, or a model directory (default: shipped)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.singles, args.numbers = 60, 20
    from digitlab.data import load_dataset
    from digitlab.inference.classifier import load_classifier
    from photo_eval import verifier_arg

    start = time.perf_counter()
    doc = evaluate(load_classifier(args.model), load_dataset("mnist").test, args.singles, args.numbers, args.seed,
                   all_uci=not args.quick, verifier=verifier_arg(args.verifier))
    doc.update(model=args.model, verifier=args.verifier, seconds=round(time.perf_counter() - start, 1))
    print(json.dumps(doc, indent=2) if args.json else table(doc))


if __name__ == "__main__":
    main()
