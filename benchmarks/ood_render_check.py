"""How often the photo renderer's pen breaks a styled digit of the out-of-distribution benchmark.

``benchmarks/ood_eval.py`` styles an MNIST test digit (``digitlab.vision.styles``) and then renders it with
``digitlab.vision.synthetic``'s pen, which cuts the soft edge and grows or shrinks the stroke again. On an
already thinned digit the second erosion can erase stretches of stroke, so part of the "thin" set cannot be read
by anyone. This counts, per style, the digits whose rendered ink has more connected pieces than the styled digit
had, and those that lost over half their ink share.

    .venv/bin/python benchmarks/ood_render_check.py --n 300
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from scipy import ndimage

EIGHT = np.ones((3, 3), dtype=bool)


def check(style: str, n: int, seed: int) -> dict:
    from digitlab.data import load_dataset
    from digitlab.vision import synthetic
    from digitlab.vision.styles import styled

    test = load_dataset("mnist").test
    rng = np.random.default_rng(seed)
    broken = faded = 0
    for i in rng.choice(len(test), n, replace=False):
        digit = styled(test.images[i], style, rng)
        alpha = synthetic._ink_alpha(digit)
        height = rng.uniform(0.3, 0.75) * rng.integers(100, 401)  # photo_digit's default digit sizes
        drawn = synthetic._draw_stroke(alpha, height, synthetic._pen(rng, synthetic.THICKNESS), 0.0)
        broken += ndimage.label(drawn > 0.5, EIGHT)[1] > ndimage.label(digit > 64, EIGHT)[1]
        faded += (drawn > 0.5).mean() < 0.5 * (digit > 64).mean()
    return {"style": style, "n": n, "more_pieces": broken / n, "lost_half_the_ink": faded / n}


def main() -> None:
    from digitlab.vision.styles import STYLES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="digits per style")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    for style in STYLES:
        print(json.dumps(check(style, args.n, args.seed)))


if __name__ == "__main__":
    main()
