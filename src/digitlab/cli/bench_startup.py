"""`digitlab bench startup`: the command; the measurement is digitlab.bench.startup."""

from __future__ import annotations

from pathlib import Path

import typer

from digitlab.cli.bench_cmds import app
from digitlab.cli.options import Json
from digitlab.utils.console import err, out, print_json


@app.command("startup")
def bench_startup(
    runs: int = typer.Option(7, "--runs", min=1, help="Rounds; each runs every command once, medians reported."),
    image: Path = typer.Option(None, "--image", exists=True, dir_okay=False,
                               help="The photo to predict (default: a generated 1000x1000 JPEG of one digit)."),
    json: bool = Json,
) -> None:
    """Wall time of whole processes: python -c pass, digitlab --help/--version, predict one photo."""
    from digitlab.bench.startup import measure_startup

    doc = measure_startup(runs, image)
    if json:
        print_json(doc)
        return
    out.print(f"{'command':<42}{'wall median s':>14}{'min s':>8}{'CPU s':>8}{'x python':>10}  goal")
    for r in doc["rows"]:
        goal = f"<= {r['goal_s']} s: {'met' if r['goal_met'] else 'missed'}" if "goal_s" in r else ""
        out.print(f"{r['command']:<42}{r['wall_median_s']:>14.3f}{r['wall_min_s']:>8.3f}{r['cpu_median_s']:>8.3f}"
                  f"{r['x_python']:>10.1f}  {goal}")
    load = doc["load_average"]
    err.print(f"[dim]1-min load average {load['start']:.1f} -> {load['end']:.1f}; "
              f"{runs} rounds after one warm-up[/dim]")
