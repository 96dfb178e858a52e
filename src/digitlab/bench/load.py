"""Training and prediction beside other busy processes, before and after digitlab.utils.threads (`digitlab bench load`).

Each path runs as a whole `digitlab` process, idle, beside one CPU-spinning process and beside two (started
and always stopped here), under three settings in the same run: the thread policy, and the behaviour before it
(torch's default threads with libgomp's spinning waits; the same with OMP_NUM_THREADS=1). Training figures are
the run's own training time (`--json`); predict's is the process's wall time.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from digitlab.bench.machine import machine
from digitlab.errors import DigitlabError

BUSY1_GOAL = 2.0  # beside one busy process, no path may take more than this times its idle time
IDLE_TOLERANCE = 0.10  # idle, the policy may be this much slower than the best setting before it
CONDITIONS = {"idle": 0, "busy1": 1, "busy2": 2}
VARIANTS = {
    "policy": "digitlab.utils.threads: threads from the work and the free CPUs; OpenMP threads spin ~1 ms, not ~9 ms, "
              "before they sleep",
    "spin-default": "before: torch's default threads (one per core) and libgomp's spinning waits "
                    "(GOMP_SPINCOUNT=300000, its default); predict and the NumPy network kept one thread per "
                    "small call, as before",
    "omp1": "before, with OMP_NUM_THREADS=1",
}
# A CPU-bound process that ends by itself when its parent (this benchmark) is gone, even after a SIGKILL.
BUSY = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(200_000): pass\n"


def paths(quick: bool) -> dict[str, dict[str, Any]]:
    """name -> digitlab arguments, what the slice is, and whether it trains a torch model."""
    if quick:
        return {
            "cnn": {"args": ["train", "cnn", "--epochs", "1", "--limit", "2048"], "torch": True,
                    "slice": "quick: 2,048 images, 1 epoch (8 steps)"},
            "seed-001": {"args": ["train", "--recipe", "seed-001", "--epochs", "1", "--limit", "800"], "torch": True,
                         "slice": "quick: 50 steps of batch 16"},
            "seed-002": {"args": ["train", "--recipe", "seed-002", "--epochs", "1", "--limit", "2048"],
                         "torch": True, "slice": "quick: 32 steps of batch 64"},
            "seed-004": {"args": ["train", "--recipe", "seed-004", "--epochs", "1", "--limit", "2000"],
                         "torch": False, "slice": "quick: 2,000 images, 1 epoch"},
            "predict": {"photos": 10, "torch": False, "slice": "quick: 10 photos"},
        }
    return {
        "cnn": {"args": ["train", "cnn", "--epochs", "1"], "torch": True, "slice": "the recipe in full (1 epoch)"},
        "seed-001": {"args": ["train", "--recipe", "seed-001", "--epochs", "1", "--limit", "16000"], "torch": True,
                     "slice": "1,000 steps of batch 16 (--limit 16000 --epochs 1)"},
        "seed-002": {"args": ["train", "--recipe", "seed-002"], "torch": True,
                     "slice": "the recipe in full (2 epochs)"},
        "seed-004": {"args": ["train", "--recipe", "seed-004", "--epochs", "3"], "torch": False,
                     "slice": "3 of its 30 epochs (--epochs 3): 30 would take 10x as long"},
        "predict": {"photos": 500, "torch": False, "slice": "500 photos"},
    }


def variant_env(variant: str, torch_training: bool) -> dict[str, str]:
    """The environment a variant runs in, on top of this process's (less any thread settings of ours)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DIGITLAB_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if variant == "spin-default":
        env["GOMP_SPINCOUNT"] = "300000"
        if torch_training:  # before the policy, torch trained on one thread per core
            env["DIGITLAB_THREADS"] = str(os.cpu_count() or 1)
    elif variant == "omp1":
        env["GOMP_SPINCOUNT"] = "300000"
        env["OMP_NUM_THREADS"] = "1"
    return env


def write_photos(directory: Path, count: int, data_dir: str | None) -> Path:
    """``count`` JPEG photos of MNIST test digits (vision.synthetic.photo_digit), fixed seed."""
    import numpy as np

    from digitlab.data import load_dataset
    from digitlab.vision.synthetic import photo_digit

    test = load_dataset("mnist", data_dir).test
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        photo_digit(np.asarray(test.images[i]), rng).convert("RGB").save(directory / f"{i:04d}.jpg", quality=90)
    return directory


@contextlib.contextmanager
def busy_processes(count: int) -> Iterator[list[subprocess.Popen]]:
    """``count`` CPU-spinning processes for the duration of the block; stopped however the block ends."""
    started: list[subprocess.Popen] = []
    try:
        for _ in range(count):
            started.append(subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if count:
            time.sleep(0.5)  # running at full speed before the first timed process starts
        yield started
    finally:
        for process in started:
            process.kill()
        for process in started:
            process.wait()


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """A SIGTERM stops the benchmark as Ctrl-C does, so the busy processes are stopped on the way out."""
    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (a test runner's worker): nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_path(command: list[str], env: dict[str, str], is_train: bool, cap_s: float) -> dict[str, Any]:
    """One timed `digitlab` process: seconds (training time, or wall time for predict), threads, wall."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=cap_s,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "timed_out_after_s": cap_s}
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise DigitlabError(f"{' '.join(command[2:])} exited {done.returncode}: "
                            f"{done.stderr.decode(errors='replace').strip()[-300:]}")
    record: dict[str, Any] = {"seconds": round(wall, 3), "wall_s": round(wall, 3)}
    if is_train:
        doc = jsonlib.loads(done.stdout)
        record.update(seconds=round(doc["train_seconds"], 3), threads=doc.get("threads"), test_acc=doc["test_acc"])
    return record


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b rounded to 3 places; None where either is missing (a timed-out run) or b is 0."""
    return round(a / b, 3) if a is not None and b else None


def summarize(results: dict[str, dict[str, dict[str, dict]]]) -> tuple[dict, dict]:
    """(ratios per path, goals): busy/idle per variant; the policy's idle time over the best earlier setting's."""
    ratios: dict[str, dict] = {}
    busy_ok: list[bool] = []
    idle_ok: list[bool] = []
    for name, by_variant in results.items():
        row: dict[str, Any] = {}
        for variant, by_condition in by_variant.items():
            idle = by_condition.get("idle", {}).get("seconds")
            for condition in ("busy1", "busy2"):
                if condition in by_condition:
                    row[f"{variant}_{condition}_over_idle"] = ratio(by_condition[condition]["seconds"], idle)
        policy = by_variant.get("policy", {})
        before = [by_variant[v]["idle"]["seconds"] for v in ("spin-default", "omp1")
                  if "idle" in by_variant.get(v, {}) and by_variant[v]["idle"]["seconds"] is not None]
        if "idle" in policy and before:
            row["policy_idle_over_best_before"] = ratio(policy["idle"]["seconds"], min(before))
            idle_ok.append(row["policy_idle_over_best_before"] is not None
                           and row["policy_idle_over_best_before"] <= 1 + IDLE_TOLERANCE)
        if "policy_busy1_over_idle" in row:
            busy_ok.append(row["policy_busy1_over_idle"] is not None and row["policy_busy1_over_idle"] <= BUSY1_GOAL)
        ratios[name] = row
    goals = {"busy1_max_over_idle": BUSY1_GOAL, "busy1_met": all(busy_ok) if busy_ok else None,
             "idle_tolerance": IDLE_TOLERANCE, "idle_met": all(idle_ok) if idle_ok else None}
    checked = [g for g in (goals["busy1_met"], goals["idle_met"]) if g is not None]
    goals["met"] = all(checked) if checked else None
    return ratios, goals


def pick(value: str, allowed: dict, what: str) -> list[str]:
    """A comma-separated choice from ``allowed`` (for the option --``what``); anything else is one clear error."""
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown or not chosen:
        raise DigitlabError(f"--{what} takes a comma-separated list of {', '.join(allowed)}; got {value!r}")
    return chosen


PATHS = ("cnn", "seed-001", "seed-002", "seed-004", "predict")


def measure_load(quick: bool = False, only: list[str] | None = None, variants: list[str] | None = None,
                 conditions: list[str] | None = None, cap: float = 45.0, data_dir: str | None = None,
                 progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Each path under each variant, beside 0, 1 and 2 busy processes; seconds, ratios and the goals.

    >>> doc = measure_load(quick=True, only=["seed-004"], variants=["policy"])  # doctest: +SKIP
    >>> doc["ratios"]["seed-004"]["policy_busy1_over_idle"]  # doctest: +SKIP
    1.21
    """
    table = paths(quick)
    chosen_paths = only or list(PATHS)
    chosen_variants = variants or list(VARIANTS)
    chosen_conditions = conditions or list(CONDITIONS)
    digitlab = [sys.executable, "-m", "digitlab.cli"]
    data_args = ["--data-dir", data_dir] if data_dir else []
    results: dict[str, dict[str, dict[str, dict]]] = {p: {v: {} for v in chosen_variants} for p in chosen_paths}
    loads: dict[str, Any] = {"start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="digitlab-bench-load-") as tmp, sigterm_interrupts():
        photos = None
        if "predict" in chosen_paths:
            photos = write_photos(Path(tmp) / "photos", table["predict"]["photos"], data_dir)
        for condition in chosen_conditions:
            with busy_processes(CONDITIONS[condition]):
                loads[condition] = os.getloadavg()
                for name in chosen_paths:
                    spec = table[name]
                    for variant in chosen_variants:
                        run_dir = Path(tmp) / f"{name}-{variant}-{condition}"
                        if name == "predict":
                            command = [*digitlab, "predict", str(photos), "--json"]
                        else:
                            command = [*digitlab, *spec["args"], "--device", "cpu", "--run-dir", str(run_dir),
                                       "--no-report", "--json", *data_args]
                        record = run_path(command, variant_env(variant, spec["torch"]), name != "predict", cap)
                        results[name][variant][condition] = record
                        shown = "timed out" if record["seconds"] is None else f"{record['seconds']:.2f} s"
                        progress(f"{condition:<6} {name:<9} {variant:<13} {shown}"
                                 f"{'  threads ' + str(record['threads']) if record.get('threads') else ''}")
    loads["end"] = os.getloadavg()
    ratios, goals = summarize(results)
    return {"benchmark": "load", "quick": quick, "cap_s": cap,
            "paths": {p: table[p]["slice"] for p in chosen_paths},
            "variants": {v: VARIANTS[v] for v in chosen_variants},
            "conditions": {c: f"beside {n} CPU-spinning process{'es' if n != 1 else ''}"
                           for c, n in CONDITIONS.items() if c in chosen_conditions},
            "seconds": {"train paths": "training time from `digitlab train --json` (train_seconds)",
                        "predict": "wall time of the whole `digitlab predict DIR --json` process"},
            "results": results, "ratios": ratios, "goals": goals, "load_average": loads, "machine": machine()}
