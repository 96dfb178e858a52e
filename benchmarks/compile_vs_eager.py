"""torch.compile vs eager for seed 003's recipe (MLP 784-312-256-10, Adam 2e-5, batch 320), the analogue of
seed 002's "static graph is faster than dynamic". Same engine (`digitlab.training.engine.fit`), same data and seeds;
the compiled run's first epoch includes compilation, so later epochs are reported separately.

    DIGITLAB_DATA=/tmp/dl-data .venv/bin/python benchmarks/compile_vs_eager.py --epochs 3 --json
"""

from __future__ import annotations

import argparse
import json

import torch

from digitlab.data import load_dataset
from digitlab.models.registry import create_model
from digitlab.training.engine import fit
from digitlab.training.recipes import get_recipe


def run(compile_: bool, epochs: int) -> list[float]:
    ds = load_dataset("mnist")
    train, val = ds.split_validation()
    torch.manual_seed(0)
    recipe = get_recipe("seed-003").override(epochs=epochs, compile=compile_)
    state = fit(create_model("mlp-312"), recipe, train, val, device=torch.device("cpu"))
    return [r["seconds"] for r in state.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    eager, compiled = run(False, args.epochs), run(True, args.epochs)
    later = slice(1, None)
    doc = {"benchmark": "compile vs eager (seed-003)", "eager_s_per_epoch": eager, "compiled_s_per_epoch": compiled,
           "first_epoch_ratio": eager[0] / compiled[0],
           "steady_ratio": sum(eager[later]) / max(1e-9, sum(compiled[later])), "threads": torch.get_num_threads()}
    print(json.dumps(doc, indent=2) if args.json else
          f"eager {eager} s/epoch; compiled {compiled} s/epoch; steady-state speed-up {doc['steady_ratio']:.2f}x")


if __name__ == "__main__":
    main()
