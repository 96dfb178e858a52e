"""`digitlab bench startup`: how long a whole `digitlab` process takes to answer, beside `python -c pass`.

Start-up is what a user waits for on every command; it is mostly imports. Each command is run as a fresh
process, interleaved with the others round by round so that machine noise hits all alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from digitlab.cli.bench_cmds import app, machine
from digitlab.cli.options import Json
from digitlab.errors import DigitlabError
from digitlab.utils.console import err, out, print_json

GOALS_S = {"digitlab --help": 0.4, "digitlab predict PHOTO": 1.0}


def one_photo(directory: Path) -> Path:
    """A 1000x1000 JPEG photo of one MNIST test digit (the same as `digitlab bench predict` reads)."""
    import numpy as np

    from digitlab.data import load_dataset
    from digitlab.vision.synthetic import photo_digit

    digit = load_dataset("mnist").test.images[0]
    path = directory / "one-photo.jpg"
    photo_digit(digit, np.random.default_rng(0)).convert("RGB").resize((1000, 1000)).save(path, quality=90)
    return path


def run_once(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one whole process."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise DigitlabError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode().strip()[-300:]}")
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


@app.command("startup")
def bench_startup(
    runs: int = typer.Option(7, "--runs", min=1, help="Rounds; each runs every command once (medians reported)."),
    image: Path = typer.Option(None, "--image", exists=True, dir_okay=False,
                               help="The photo to predict (default: a generated 1000x1000 JPEG of one digit)."),
    json: bool = Json,
) -> None:
    """Wall time of whole processes: python -c pass, digitlab --help/--version, predict one photo."""
    digitlab = [sys.executable, "-m", "digitlab.cli"]
    with tempfile.TemporaryDirectory(prefix="digitlab-bench-startup-") as tmp:
        photo = image or one_photo(Path(tmp))
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "digitlab --version": [*digitlab, "--version"],
            "digitlab --help": [*digitlab, "--help"],
            "digitlab predict PHOTO": [*digitlab, "predict", str(photo)],
            "digitlab predict PHOTO --runtime torch": [*digitlab, "predict", str(photo), "--runtime", "torch"],
        }
        load_start = os.getloadavg()[0]
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(runs + 1):  # the first round warms the file cache and is not counted
            for name, command in commands.items():
                samples[name].append(run_once(command))
    rows = []
    for name, values in samples.items():
        walls, cpus = [w for w, _ in values[1:]], [c for _, c in values[1:]]
        row = {"command": name, "wall_median_s": round(statistics.median(walls), 3),
               "wall_min_s": round(min(walls), 3), "cpu_median_s": round(statistics.median(cpus), 3)}
        if name in GOALS_S:
            row["goal_s"] = GOALS_S[name]
            row["goal_met"] = row["wall_median_s"] <= GOALS_S[name]
        rows.append(row)
    base = rows[0]["wall_median_s"]
    for row in rows:
        row["x_python"] = round(row["wall_median_s"] / max(base, 1e-6), 1)
    doc = {"benchmark": "startup", "runs": runs, "image": str(image) if image else "generated 1000x1000 JPEG",
           "rows": rows, "load_average": {"start": load_start, "end": os.getloadavg()[0]},
           "machine": machine()}
    if json:
        print_json(doc)
        return
    out.print(f"{'command':<42}{'wall median s':>14}{'min s':>8}{'CPU s':>8}{'x python':>10}  goal")
    for r in rows:
        goal = f"<= {r['goal_s']} s: {'met' if r['goal_met'] else 'missed'}" if "goal_s" in r else ""
        out.print(f"{r['command']:<42}{r['wall_median_s']:>14.3f}{r['wall_min_s']:>8.3f}{r['cpu_median_s']:>8.3f}"
                  f"{r['x_python']:>10.1f}  {goal}")
    err.print(f"[dim]1-min load average {load_start:.1f} -> {doc['load_average']['end']:.1f}; "
              f"{runs} rounds after one warm-up[/dim]")
