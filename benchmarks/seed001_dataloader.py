"""Seed 001's recipe (LeNet-lite, batch 16, Adam 1e-4): digitlab's engine vs a plain eager DataLoader loop.

The baseline is the loop seed 001 (and pytorch/examples) writes: a Dataset turning one uint8 image at a
time into a float tensor (what torchvision's ToTensor does), a shuffling DataLoader with batch 16, and
zero_grad / forward / backward / step. digitlab runs the same recipe through its one engine
(``digitlab.training.engine.fit``). Same images, same number of steps; seconds per epoch are compared in the
same process, alternating, so machine noise hits both.

    DIGITLAB_DATA=/tmp/dl-data .venv/bin/python benchmarks/seed001_dataloader.py --images 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from digitlab.data import load_dataset
from digitlab.models.lenet import LeNetLite
from digitlab.training.engine import fit
from digitlab.training.recipes import get_recipe


class UInt8Digits(Dataset):
    """Per-sample conversion, as torchvision's MNIST + ToTensor do it."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.images[i]).float().div(255).unsqueeze(0), int(self.labels[i])


def dataloader_epoch(images: np.ndarray, labels: np.ndarray, seed: int) -> float:
    torch.manual_seed(seed)
    model = LeNetLite()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loader = DataLoader(UInt8Digits(images, labels), batch_size=16, shuffle=True)
    model.train()
    start = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def engine_epoch(train, val, seed: int) -> float:
    torch.manual_seed(seed)
    recipe = get_recipe("seed-001").override(epochs=1, seed=seed)
    state = fit(LeNetLite(), recipe, train, val, device=torch.device("cpu"))
    return state.train_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000, help="training images per timed epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ds = load_dataset("mnist")
    train, _ = ds.split_validation()
    train = train.take(slice(0, args.images))
    val = ds.test.take(slice(0, 16))  # the engine validates each epoch; keep that out of the comparison
    base, ours = [], []
    for r in range(args.repeats):
        base.append(dataloader_epoch(train.images, train.labels, r))
        ours.append(engine_epoch(train, val, r))
    scale = 55000 / args.images  # seconds per full epoch of the 55k training split
    doc = {"benchmark": "seed-001 epoch", "images": args.images, "repeats": args.repeats,
           "dataloader_s_per_epoch": statistics.median(base) * scale,
           "engine_s_per_epoch": statistics.median(ours) * scale,
           "speedup": statistics.median(base) / statistics.median(ours), "threads": torch.get_num_threads()}
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"DataLoader loop: {doc['dataloader_s_per_epoch']:.1f} s/epoch; digitlab engine: "
              f"{doc['engine_s_per_epoch']:.1f} s/epoch; speed-up {doc['speedup']:.2f}x")


if __name__ == "__main__":
    main()
