"""The fastest published MNIST CNN recipe we know, reimplemented faithfully as the speed baseline.

conv 1->24 k5, max-pool 2, ReLU, conv 24->32 k3, max-pool 2, ReLU, fc 800->256, ReLU, fc 256->10;
Adam lr 1e-2 betas (0.7, 0.9), OneCycleLR (cycle_momentum=False) stepped per batch, batch 256,
one epoch over the 60k training images, inputs normalised with (0.1307, 0.3081), data pre-loaded.

Timed: model creation + the epoch (forward, backward, optimiser and schedule steps). Not timed:
loading and normalising the data, and the test-set evaluation.

    DIGITLAB_DATA=/tmp/dl-data .venv/bin/python -m digitlab.bench.baseline_fast_mnist --seeds 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

MEAN, STD = 0.1307, 0.3081
BATCH_SIZE = 256
LR = 1e-2
BETAS = (0.7, 0.9)


def load_mnist_tensors(device: torch.device | str = "cpu", data_dir: str | None = None, dataset: str = "mnist",
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y) on ``device``: float32 (N, 1, 28, 28) normalised with (MEAN, STD),
    int64 labels. ``dataset``: another dataset spec (``idx:DIR``) for dry runs on a small one."""
    from digitlab.data import load_dataset
    from digitlab.data.batches import to_tensor
    from digitlab.inference.normalization import Normalization

    NORM = Normalization("mnist", MEAN, STD)

    splits = load_dataset(dataset, data_dir)
    train_x = to_tensor(splits.train_full.images, NORM, device)
    test_x = to_tensor(splits.test.images, NORM, device)
    return (train_x, torch.from_numpy(splits.train_full.labels.copy()).to(device),
            test_x, torch.from_numpy(splits.test.labels.copy()).to(device))


class BaselineNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 24, 5)
        self.conv2 = nn.Conv2d(24, 32, 3)
        self.fc1 = nn.Linear(800, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


@torch.inference_mode()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> float:
    model.eval()
    correct = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                  for i in range(0, len(y), batch_size))
    return correct / len(y)


def run_baseline(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 seed: int) -> dict[str, float]:
    """Train the baseline for one epoch with ``seed``, on the device the data is on (fp32, as published).

    Returns {"seconds": wall-clock training time, "cpu": its process CPU time, "test_acc": fraction correct}.
    """
    torch.manual_seed(seed)
    device = train_x.device
    n = len(train_y)
    steps = -(-n // BATCH_SIZE)  # the last, partial batch is kept, as a DataLoader would
    start, cpu_start = time.perf_counter(), time.process_time()
    model = BaselineNet().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=steps, cycle_momentum=False)
    model.train()
    order = torch.randperm(n).to(device)  # drawn on the CPU: the same order on every device
    for i in range(steps):
        idx = order[i * BATCH_SIZE:(i + 1) * BATCH_SIZE]
        loss = F.cross_entropy(model(train_x.index_select(0, idx)), train_y.index_select(0, idx))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # kernels run asynchronously: the clock stops when they are done
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"seconds": seconds, "cpu": cpu, "test_acc": accuracy(model, test_x, test_y)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_mnist_tensors(args.device)
    runs = [run_baseline(*data, seed=s) for s in range(args.seeds)]
    for s, r in enumerate(runs):
        print(f"seed {s}: {r['seconds']:.2f} s  test {r['test_acc']:.4f}")
    accs = [r["test_acc"] for r in runs]
    print(f"mean {statistics.mean(r['seconds'] for r in runs):.2f} s  "
          f"test mean {statistics.mean(accs):.4f} min {min(accs):.4f}")


if __name__ == "__main__":
    main()
