"""Where a second thread starts to pay: training-step time at 1 and 2 intra-op threads, for the recipes'
models and batch sizes, as MACs per step (MACs/image x batch x 3) grow. digitlab.utils.threads.MACS_PER_THREAD
should sit where "2 / 1" crosses below 1. Run it on a quiet machine (1-min load < 0.5): each setting in a fresh
process, under digitlab's OpenMP spin setting, rounds interleaved; the fastest chunk of 10 steps is kept.

    .venv/bin/python benchmarks/threads_sweep.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CASES = [("lenet-lite", 16), ("lenet-lite", 64), ("mlp-512", 16), ("mlp-512", 64), ("cnn", 64), ("cnn", 256),
         ("mlp-512", 256), ("digitnet", 32)]

STEP = """
import sys, time
import torch, torch.nn.functional as F
from digitlab.models.registry import create_model
from digitlab.utils.threads import torch_macs
name, batch, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = create_model(name)
macs = torch_macs(model)
opt = torch.optim.Adam(model.parameters(), 1e-3)
x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
def run(n):
    for _ in range(n):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
run(5)
best = float("inf")
for _ in range(steps // 10):
    start = time.perf_counter()
    run(10)
    best = min(best, (time.perf_counter() - start) / 10)
print(macs * batch * 3, best)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import digitlab  # noqa: F401 - sets digitlab's OpenMP spin count in os.environ for the children

    best: dict[tuple[str, int, int], float] = {}
    macs: dict[tuple[str, int], int] = {}
    for _ in range(args.rounds):
        for name, batch in CASES:
            for threads in (1, 2):
                done = subprocess.run([sys.executable, "-c", STEP, name, str(batch), str(threads), str(args.steps)],
                                      capture_output=True, text=True, check=True, env=dict(os.environ))
                step_macs, seconds = done.stdout.split()
                macs[name, batch] = int(step_macs)
                key = (name, batch, threads)
                best[key] = min(best.get(key, float("inf")), float(seconds))
    rows = [{"model": n, "batch": b, "macs_per_step": macs[n, b], "ms_1_thread": best[n, b, 1] * 1e3,
             "ms_2_threads": best[n, b, 2] * 1e3, "2_over_1": best[n, b, 2] / best[n, b, 1]} for n, b in CASES]
    rows.sort(key=lambda r: r["macs_per_step"])
    if args.json:
        print(json.dumps({"rows": rows, "load_average": os.getloadavg(), "cpus": os.cpu_count()}, indent=2))
        return
    print(f"{'model':<12}{'batch':>6}{'MMACs/step':>12}{'1 thread ms':>13}{'2 threads ms':>14}{'2 / 1':>8}")
    for r in rows:
        print(f"{r['model']:<12}{r['batch']:>6}{r['macs_per_step'] / 1e6:>12.1f}{r['ms_1_thread']:>13.2f}"
              f"{r['ms_2_threads']:>14.2f}{r['2_over_1']:>8.2f}")
    print(f"1-min load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
