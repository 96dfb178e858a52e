"""`digitlab bench load`: training and prediction beside other busy processes, before and after digitlab.utils.threads.

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from digitlab.cli.bench_cmds import app, machine
from digitlab.cli.options import DataDir, Json
from digitlab.errors import DigitlabError
from digitlab.utils.console import err, out, print_json

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
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown or not chosen:
        raise DigitlabError(f"--{what} takes a comma-separated list of {', '.join(allowed)}; got {value!r}")
    return chosen


@app.command("load")
def bench_load(
    quick: bool = typer.Option(False, "--quick", help="Tiny slices of every path (a smoke test, not a figure)."),
    only: str = typer.Option("cnn,seed-001,seed-002,seed-004,predict", "--paths", help="Which paths to time."),
    variants: str = typer.Option(",".join(VARIANTS), "--variants", help="policy, spin-default, omp1."),
    conditions: str = typer.Option(",".join(CONDITIONS), "--conditions", help="idle, busy1, busy2."),
    cap: float = typer.Option(45.0, "--cap", min=1.0, help="Seconds after which one timed process is stopped "
                              "and recorded as timed out."),
    data_dir: Path = DataDir,
    json: bool = Json,
) -> None:
    """Training and predict beside 0, 1 and 2 busy processes: the thread policy against the settings before it."""
    table = paths(quick)
    chosen_paths = pick(only, table, "paths")
    chosen_variants = pick(variants, VARIANTS, "variants")
    chosen_conditions = pick(conditions, CONDITIONS, "conditions")
    digitlab = [sys.executable, "-m", "digitlab.cli"]
    data_args = ["--data-dir", str(data_dir)] if data_dir else []
    results: dict[str, dict[str, dict[str, dict]]] = {p: {v: {} for v in chosen_variants} for p in chosen_paths}
    loads: dict[str, Any] = {"start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="digitlab-bench-load-") as tmp, sigterm_interrupts():
        photos = None
        if "predict" in chosen_paths:
            photos = write_photos(Path(tmp) / "photos", table["predict"]["photos"], str(data_dir) if data_dir else None)
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
                        if not json:
                            shown = "timed out" if record["seconds"] is None else f"{record['seconds']:.2f} s"
                            err.print(f"[dim]{condition:<6} {name:<9} {variant:<13} {shown}"
                                      f"{'  threads ' + str(record['threads']) if record.get('threads') else ''}[/dim]")
    loads["end"] = os.getloadavg()
    ratios, goals = summarize(results)
    doc = {"benchmark": "load", "quick": quick, "cap_s": cap,
           "paths": {p: table[p]["slice"] for p in chosen_paths},
           "variants": {v: VARIANTS[v] for v in chosen_variants},
           "conditions": {c: f"beside {n} CPU-spinning process{'es' if n != 1 else ''}"
                          for c, n in CONDITIONS.items() if c in chosen_conditions},
           "seconds": {"train paths": "training time from `digitlab train --json` (train_seconds)",
                       "predict": "wall time of the whole `digitlab predict DIR --json` process"},
           "results": results, "ratios": ratios, "goals": goals, "load_average": loads, "machine": machine()}
    if json:
        print_json(doc)
        return
    print_table(doc, chosen_conditions)


def shown(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def print_table(doc: dict, conditions: list[str]) -> None:
    header = "".join(f"{c + ' s':>10}" for c in conditions)
    header += "".join(f"{c + '/idle':>12}" for c in conditions if c != "idle" and "idle" in conditions)
    out.print(f"{'path':<10}{'setting':<14}{header}")
    for name, by_variant in doc["results"].items():
        for variant, by_condition in by_variant.items():
            cells = "".join(f"{shown(by_condition[c]['seconds'], ''):>10}" for c in conditions)
            for c in conditions:
                if c != "idle" and "idle" in conditions:
                    cells += f"{shown(doc['ratios'][name].get(f'{variant}_{c}_over_idle'), 'x'):>12}"
            out.print(f"{name:<10}{variant:<14}{cells}")
        best = doc["ratios"][name].get("policy_idle_over_best_before")
        if best is not None:
            out.print(f"{'':<10}policy idle / best before: {best:.2f}x")
    goals = doc["goals"]
    for key, text in (("busy1_met", f"beside one busy process <= {BUSY1_GOAL}x idle"),
                      ("idle_met", f"idle within {IDLE_TOLERANCE:.0%} of the best setting before")):
        if goals[key] is not None:
            out.print(f"goal {text}: {'met' if goals[key] else 'missed'}")
    load = doc["load_average"]
    err.print(f"[dim]1-min load average {load['start'][0]:.2f} -> {load['end'][0]:.2f}; "
              f"{doc['machine']['cpus']} CPUs; slices: "
              + "; ".join(f"{k}: {v}" for k, v in doc["paths"].items()) + "[/dim]")
