"""One process x 2 threads vs 2 DDP processes x 1 thread on this machine's CPUs: the `cnn` recipe, the same images.

Each round runs each setting, alternating the order (A B C, then C B A...), each a fresh `digitlab train` in its own
process(es): `--threads 2` in one process, `--threads 1 --nproc-per-node 2` (gloo) in two. Reported per run: the
training pass's seconds (the slowest rank's, summed over epochs), images/s from it, the whole command's wall time
(start-up, data, validation, test and model files included) and the test accuracy; then the median ratio
DDP / single of both times. Say the machine's load with the figures (`uptime`).

    .venv/bin/python benchmarks/ddp_cpu.py --rounds 2 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = {"1 proc x 2 threads": ["--threads", "2"],
            "2 procs x 1 thread": ["--threads", "1", "--nproc-per-node", "2"],
            "1 proc x 1 thread": ["--threads", "1"]}  # context: what the second core adds either way


def train(args: list[str], run_dir: Path) -> dict:
    cmd = [sys.executable, "-m", "digitlab", "train", "cnn", "--device", "cpu", "--no-report", "--json",
           "--run-dir", str(run_dir), *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    doc = json.loads(proc.stdout)
    config = json.loads((run_dir / "config.json").read_text())
    images = config["data"]["train"] * doc["epochs_run"]
    return {"train_seconds": doc["train_seconds"], "images_per_s": images / doc["train_seconds"], "wall_s": wall,
            "test_acc": doc["test_acc"], "world_size": doc["world_size"], "images": images}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="training images (default: all 55,000)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    extra = ["--epochs", str(args.epochs)] + (["--limit", str(args.limit)] if args.limit else [])
    names = list(SETTINGS)
    results: dict[str, list[dict]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                run = train(SETTINGS[name] + extra, Path(tmp) / f"{r}-{names.index(name)}")
                results[name].append(run)
                if not args.json:
                    print(f"round {r + 1} {name}: train {run['train_seconds']:.2f} s ({run['images_per_s']:,.0f} "
                          f"img/s), wall {run['wall_s']:.1f} s, test {run['test_acc']:.2%}", file=sys.stderr)
    single, ddp = results[names[0]], results[names[1]]
    summary = {
        "ddp_over_single_train_time": statistics.median(b["train_seconds"] / a["train_seconds"]
                                                        for a, b in zip(single, ddp, strict=True)),
        "ddp_over_single_wall": statistics.median(b["wall_s"] / a["wall_s"] for a, b in zip(single, ddp, strict=True)),
    }
    doc = {"runs": results, "summary": summary, "args": vars(args)}
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    print("| setting | train s (per run) | images/s | wall s | test acc |")
    print("|---|---|---|---|---|")
    def cells(runs: list[dict], key: str, fmt: str) -> str:
        return ", ".join(format(x[key], fmt) for x in runs)

    for name in names:
        runs = results[name]
        print(f"| {name} | {cells(runs, 'train_seconds', '.2f')} | {cells(runs, 'images_per_s', ',.0f')} | "
              f"{cells(runs, 'wall_s', '.1f')} | {cells(runs, 'test_acc', '.2%')} |")
    print(f"\nDDP / single, median of the rounds: training pass {summary['ddp_over_single_train_time']:.2f}, "
          f"wall {summary['ddp_over_single_wall']:.2f}")


if __name__ == "__main__":
    main()
