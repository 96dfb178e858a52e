"""`digitlab sweep`: a hyper-parameter search of a recipe on Optuna (training/sweep.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from digitlab.cli.options import DataDir, Json, Threads


def format_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trial_line(row: dict) -> str:
    """One line per finished trial (stderr): its settings, its validation accuracy and how it ended."""
    settings = "  ".join(f"{k}={format_value(v)}" for k, v in row["params"].items())
    acc = f"val acc {row['val_acc']:.2%}" if row["val_acc"] is not None else "no val acc"
    return f"trial {row['number']}  {settings}  {acc}  {row['state']} after {row['epochs']} epoch(s)"


def print_summary(doc: dict) -> None:
    """The study's trials as a table, then the best trial and where the files are."""
    from rich.table import Table

    from digitlab.utils.console import out

    names = list(dict.fromkeys(k for t in doc["trials"] for k in t["params"]))
    best = (doc["best"] or {}).get("number")
    table = Table(title=f"study {doc['study']}: " + ", ".join(f"{n} {s}" for s, n in doc["counts"].items()))
    for column in ["trial", *names, "val acc", "epochs", "state"]:
        table.add_column(column, justify="left" if column == "state" else "right")
    for t in doc["trials"]:
        mark = (" (recipe)" if t.get("baseline") else "") + (" *" if t["number"] == best else "")
        table.add_row(f"{t['number']}{mark}", *(format_value(t["params"].get(n, "")) for n in names),
                      f"{t['val_acc']:.2%}" if t["val_acc"] is not None else "-", str(t["epochs"]), t["state"])
    out.print(table)
    if doc["best"] is None:
        out.print("no trial completed: no best recipe")
    else:
        settings = ", ".join(f"{k}={format_value(v)}" for k, v in doc["best"]["params"].items())
        out.print(f"best: trial {best}, val acc [bold]{doc['best']['val_acc']:.2%}[/bold] ({settings})")
        out.print(f"best recipe: {doc['files']['best_recipe']}  "
                  f"(digitlab train --recipe {doc['files']['best_recipe']})")
    out.print(f"plot: {doc['files'].get('plot')}   summary: {doc['files']['summary']}   storage: {doc['storage']}")


def register(app: typer.Typer) -> None:
    @app.command()
    def sweep(
        recipe: str = typer.Argument(..., help="Named recipe (see `digitlab recipes`) or a recipe .json file."),
        param: list[str] = typer.Option(..., "--param", "-p", help="A searched recipe field (repeatable; no "
                                        "default): NAME=log:LO:HI (log-uniform), NAME=float:LO:HI, "
                                        "NAME=int:LO:HI or NAME=a,b,c, e.g. lr=log:1e-4:1e-1."),
        trials: int = typer.Option(20, "--trials", "-n", min=1,
                                   help="Trials this process runs; workers sharing a study add up."),
        storage: str = typer.Option(None, "--storage", help="Optuna RDB storage URL that every worker of the "
                                    "study shares, e.g. sqlite:///sweep.db or postgresql://host/db "
                                    "(default: sqlite:///OUT/study.db)."),
        study_name: str = typer.Option(None, "--study-name", help="The study's name (default sweep-RECIPE)."),
        out_dir: Path = typer.Option(None, "--out", "-o", file_okay=False,
                                     help="Where the trial run directories and the summary go "
                                          "(default sweeps/STAMP-RECIPE)."),
        seed: int = typer.Option(0, "--seed", help="The TPE sampler's seed; give each worker sharing a study "
                                 "its own."),
        prune: bool = typer.Option(True, "--prune/--no-prune",
                                   help="Median pruning from each epoch's validation accuracy."),
        prune_startup: int = typer.Option(3, "--prune-startup", min=0,
                                          help="Trials that finish before any is pruned."),
        prune_warmup: int = typer.Option(0, "--prune-warmup", min=0,
                                         help="Epochs a trial runs before it may be pruned."),
        heartbeat: int = typer.Option(60, "--heartbeat", min=1, help="Seconds between a running trial's "
                                      "heartbeats: a trial whose worker died is retried once "
                                      "after two missed ones."),
        epochs: int = typer.Option(None, "--epochs", min=1, help="Epochs per trial (default: the recipe's)."),
        limit: int = typer.Option(None, "--limit", min=1,
                                  help="Use only the first N training images (default: the recipe's, all)."),
        dataset: str = typer.Option(None, "--dataset", "-d",
                                    help="mnist, fashion-mnist, mnist-pieces or idx:DIR (default: the recipe's)."),
        data_dir: Path = DataDir,
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        threads: str = Threads,
        baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Run the recipe's own values "
                                      "first, when the study is new and they lie in the searched space."),
        report: bool = typer.Option(True, "--report/--no-report", help="Write each trial's report.md and "
                                    "figures (--no-report: model files and metrics only)."),
        json: bool = Json,
    ) -> None:
        """Search a recipe's hyper-parameters on Optuna (TPE, median pruning); write the best as a recipe file."""
        from digitlab.training.recipes import get_recipe
        from digitlab.training.run import RunOptions
        from digitlab.training.run_dir import RunDir
        from digitlab.training.sweep import SweepOptions, parse_params, require_optuna, run_sweep
        from digitlab.utils.console import err, print_json
        from digitlab.utils.threads import parse_threads, requested_threads

        require_optuna()  # without the extra: exit 2 naming it, before any other work
        requested = parse_threads(threads)
        requested_threads(requested)
        base = get_recipe(recipe).override(epochs=epochs, limit=limit, dataset=dataset)
        params = parse_params(param, base)
        run_options = RunOptions(device=device, data_dir=str(data_dir) if data_dir else None, threads=requested)
        run_options.validate()
        out = out_dir if out_dir is not None else RunDir.new(base.name, root="sweeps").path
        options = SweepOptions(trials=trials, out=out, storage=storage, study_name=study_name, seed=seed,
                               prune=prune, prune_startup=prune_startup, prune_warmup=prune_warmup,
                               report=report, heartbeat=heartbeat, baseline=baseline)
        if not json:
            err.print(f"[dim]sweep of {base.name}: {trials} trial(s) into {out}, study "
                      f"{study_name or 'sweep-' + base.name} in {options.storage_shown()}[/dim]")
        result = run_sweep(base, params, options, run_options,
                           on_trial=None if json else lambda row: err.print(trial_line(row)))
        doc = result.to_json()
        if json:
            print_json(doc)
        else:
            print_summary(doc)
