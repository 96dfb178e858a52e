"""`digitlab bench load`: the command and its table; the measurement is digitlab.bench.load."""

from __future__ import annotations

from pathlib import Path

import typer

from digitlab.bench.load import BUSY1_GOAL, CONDITIONS, IDLE_TOLERANCE, PATHS, VARIANTS, paths, pick
from digitlab.cli.bench_cmds import app
from digitlab.cli.options import DataDir, Json, progress_printer
from digitlab.utils.console import err, out, print_json


@app.command("load")
def bench_load(
    quick: bool = typer.Option(False, "--quick", help="Tiny slices of every path (a smoke test, not a figure)."),
    only: str = typer.Option(",".join(PATHS), "--paths", help="Which paths to time, comma-separated."),
    variants: str = typer.Option(",".join(VARIANTS), "--variants", help="Which settings to time, comma-separated: "
                                 "the policy, and those before it."),
    conditions: str = typer.Option(",".join(CONDITIONS), "--conditions", help="Beside 0, 1 or 2 busy processes, "
                                   "comma-separated."),
    cap: float = typer.Option(45.0, "--cap", min=1.0, help="Seconds after which one timed process is stopped "
                              "and recorded as timed out."),
    data_dir: Path = DataDir,
    json: bool = Json,
) -> None:
    """Training and predict beside 0, 1 and 2 busy processes: the thread policy against the settings before it."""
    from digitlab.bench.load import measure_load

    chosen = pick(conditions, CONDITIONS, "conditions")
    doc = measure_load(quick, pick(only, paths(quick), "paths"), pick(variants, VARIANTS, "variants"), chosen, cap,
                       str(data_dir) if data_dir else None, progress_printer(json))
    if json:
        print_json(doc)
        return
    print_table(doc, chosen)


def shown(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def print_table(doc: dict, conditions: list[str]) -> None:
    """Seconds per path and setting under each condition, busy/idle ratios, and whether the goals were met."""
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
