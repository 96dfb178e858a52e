"""How well `digitlab.recognize` reads MNIST *test* digits rendered as photos (not MNIST-formatted).

Single digits: dark ink on white or tinted paper, larger canvas, off-centre, rotated, thick or thin strokes,
colour, JPEG, uneven lighting (``digitlab.vision.synthetic``). Numbers: five test digits with uneven size and
spacing. Generated deterministically from ``--seed`` (default 2026, the reported figure); nothing is stored.

    DIGITLAB_DATA=/tmp/dl-data .venv/bin/python benchmarks/photo_eval.py --singles 1000 --numbers 300 --json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def evaluate(model, test, singles: int, numbers: int, seed: int = 2026) -> dict:
    from digitlab.vision.reader import recognize
    from digitlab.vision.synthetic import photo_digit, photo_number

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(test), singles, replace=False)
    single_ok = sum(recognize(photo_digit(test.images[i], rng), model, multi=False).digits == str(test.labels[i])
                    for i in idx)
    exact, count_ok, reading_time = 0, 0, 0.0
    for _ in range(numbers):
        ids = rng.choice(len(test), 5, replace=False)
        photo = photo_number(list(test.images[ids]), rng)
        start = time.perf_counter()  # only the reading is timed, not drawing the photo
        reading = recognize(photo, model)
        reading_time += time.perf_counter() - start
        exact += reading.digits == "".join(str(v) for v in test.labels[ids])
        count_ok += len(reading.items) == 5
    return {"singles": singles, "single_acc": single_ok / max(1, singles), "numbers": numbers,
            "number_exact": exact / max(1, numbers), "number_count_right": count_ok / max(1, numbers),
            "ms_per_number": round(1000 * reading_time / max(1, numbers), 1), "seed": seed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--numbers", type=int, default=300)
    parser.add_argument("--model", default="default")
    parser.add_argument("--seed", type=int, default=2026, help="develop on another seed; report on 2026")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from digitlab.data import load_dataset
    from digitlab.inference.classifier import load_classifier

    start = time.perf_counter()
    doc = evaluate(load_classifier(args.model), load_dataset("mnist").test, args.singles, args.numbers,
                   args.seed)
    doc.update(model=args.model, seconds=round(time.perf_counter() - start, 1))
    print(json.dumps(doc, indent=2) if args.json else
          f"single digits {doc['single_acc']:.2%} of {args.singles}; 5-digit numbers exact "
          f"{doc['number_exact']:.2%} of {args.numbers} (digit count right {doc['number_count_right']:.2%})")


if __name__ == "__main__":
    main()
