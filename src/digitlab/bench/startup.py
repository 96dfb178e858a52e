"""How long a whole `digitlab` process takes to answer, beside `python -c pass` (`digitlab bench startup`).

Start-up is what a user waits for on every command; it is mostly imports. Each command is run as a fresh
process, interleaved with the others round by round so that machine noise hits all alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from digitlab.bench.machine import machine
from digitlab.bench.stats import latency_summary
from digitlab.errors import DigitlabError

GOALS_S = {"digitlab --help": 0.4, "digitlab predict PHOTO": 1.0}


def one_photo(directory: Path) -> Path:
    """A 1000x1000 JPEG photo of one MNIST test digit (the one `digitlab bench predict` reads), written there."""
    from digitlab.bench.predict import one_photo_jpeg

    path = directory / "one-photo.jpg"
    path.write_bytes(one_photo_jpeg())
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


def measure_startup(runs: int = 7, image: Path | None = None) -> dict[str, Any]:
    """Every command once per round, ``runs`` rounds after one uncounted warm-up round; medians, minima, goals.

    >>> doc = measure_startup(runs=3)  # doctest: +SKIP
    >>> [(row["command"], row["x_python"]) for row in doc["rows"]][:2]  # doctest: +SKIP
    [('python -c pass', 1.0), ('digitlab --version', 4.1)]
    """
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
        wall = latency_summary([w for w, _ in values[1:]], (50, 0), unit="s", digits=3)
        cpu = latency_summary([c for _, c in values[1:]], (50,), unit="s", digits=3)
        row: dict[str, Any] = {"command": name, "wall_median_s": wall["p50_s"], "wall_min_s": wall["min_s"],
                               "cpu_median_s": cpu["p50_s"]}
        if name in GOALS_S:
            row["goal_s"] = GOALS_S[name]
            row["goal_met"] = row["wall_median_s"] <= GOALS_S[name]
        rows.append(row)
    base = rows[0]["wall_median_s"]
    for row in rows:
        row["x_python"] = round(row["wall_median_s"] / max(base, 1e-6), 1)
    return {"benchmark": "startup", "runs": runs, "image": str(image) if image else "generated 1000x1000 JPEG",
            "rows": rows, "load_average": {"start": load_start, "end": os.getloadavg()[0]}, "machine": machine()}
