"""Numbers read with and without segmentation's piece verifier, on the same photos (development seeds).

The photos are drawn once from MNIST *test* digits and read twice: by the recognizer alone (``verifier=None``)
and with the shipped verifier (or ``--verifier DIR``). Sets: five-digit numbers as ``photo_eval.py`` draws them,
small and large touching numbers and touching numbers in five styles as ``ood_eval.py`` draws them, 1,900
numbers in all. Reported per set: exactly right; in all: under-split and over-split numbers, and the ms per
number of each reading (the two alternated, best of ``--repeats``). Tune on these seeds; report on 2026 with
``photo_eval.py`` / ``ood_eval.py --verifier none|shipped``.

    .venv/bin/python benchmarks/verifier_ab.py                       # seeds 11, 7, 8, 9
    .venv/bin/python benchmarks/verifier_ab.py --seeds 12,17,18,19   # the second development set
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ood_eval import LARGE, NUMBER_LENGTHS, SMALL, TOUCHING_GAP

STYLES = ("plain", "narrow", "wide", "thick", "slant-right")


def photo_sets(test, seeds: tuple[int, int, int, int]) -> dict[str, list]:
    """{set: [(photo, truth)]}: 300 five-digit, 300 small, 300 large, 100 per style."""
    from digitlab.vision.styles import styled
    from digitlab.vision.synthetic import photo_number

    def truth(ids) -> str:
        return "".join(str(int(test.labels[i])) for i in ids)

    five, small, large, styles = seeds
    sets: dict[str, list] = {}
    rng = np.random.default_rng(five)
    sets["five-digit"] = [(photo_number(list(test.images[ids]), rng), truth(ids))
                          for ids in (rng.choice(len(test), 5, replace=False) for _ in range(300))]
    for name, height, seed in (("small", SMALL, small), ("large", LARGE, large)):
        rng = np.random.default_rng(seed)
        rows = []
        for _ in range(300):
            ids = rng.choice(len(test), int(rng.choice(NUMBER_LENGTHS)), replace=False)
            rows.append((photo_number(list(test.images[ids]), rng, digit_height=height, gap=TOUCHING_GAP), truth(ids)))
        sets[name] = rows
    for style in STYLES:
        rng = np.random.default_rng(styles)
        rows = []
        for _ in range(100):
            ids = rng.choice(len(test), int(rng.choice(NUMBER_LENGTHS)), replace=False)
            images = [styled(test.images[i], style, rng) for i in ids]
            rows.append((photo_number(images, rng, gap=TOUCHING_GAP), truth(ids)))
        sets[style] = rows
    return sets


def read_all(sets: dict[str, list], model, verifier) -> dict:
    from digitlab.vision.reader import recognize

    doc: dict = {"exact": {}, "under": 0, "over": 0}
    start = time.perf_counter()
    for name, rows in sets.items():
        right = 0
        for photo, truth in rows:
            digits = recognize(photo, model, verifier=verifier).digits
            right += digits == truth
            doc["under"] += len(digits) < len(truth)
            doc["over"] += len(digits) > len(truth)
        doc["exact"][name] = round(right / len(rows), 4)
    count = sum(len(rows) for rows in sets.values())
    doc["ms_per_number"] = round(1000 * (time.perf_counter() - start) / count, 2)
    doc["mean_exact"] = round(float(np.mean(list(doc["exact"].values()))), 4)
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="11,7,8,9", help="five-digit, small, large, styles (default: 11,7,8,9)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--verifier", default="shipped", help="shipped or a model directory (default: shipped)")
    parser.add_argument("--repeats", type=int, default=1, help="readings of each kind, alternated (default: 1)")
    args = parser.parse_args()
    from digitlab.data import load_dataset
    from digitlab.inference.classifier import load_classifier
    from photo_eval import verifier_arg

    seeds = tuple(int(s) for s in args.seeds.split(","))
    if len(seeds) != 4:
        parser.error("--seeds takes four comma-separated integers")
    sets = photo_sets(load_dataset("mnist").test, seeds)  # type: ignore[arg-type]
    model = load_classifier(args.model)
    runs: dict[str, list] = {"none": [], args.verifier: []}
    for _ in range(max(1, args.repeats)):
        for name in runs:
            runs[name].append(read_all(sets, model, verifier_arg(name)))
    doc = {name: {**docs[0], "ms_per_number": min(d["ms_per_number"] for d in docs)} for name, docs in runs.items()}
    print(json.dumps({"seeds": seeds, "model": args.model, **doc}, indent=2))


if __name__ == "__main__":
    main()
