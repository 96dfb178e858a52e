"""`digitlab models` and `digitlab recipes`: what exists, with sizes and the seeds' figures."""

from __future__ import annotations

import typer

from digitlab.cli.options import Json
from digitlab.utils.console import out, print_json


def model_rows() -> list[dict]:
    """One row per registered model, in registry order: its spec, parameters and MACs per image."""
    from digitlab.models.complexity import dense_complexity, torch_complexity
    from digitlab.models.registry import create_model, get_spec, list_models

    rows = []
    for spec in map(get_spec, list_models()):
        if spec.family == "numpy":
            params, macs = dense_complexity(spec.defaults["sizes"])
        else:
            params, macs = torch_complexity(create_model(spec.name))
        rows.append({"name": spec.name, "family": spec.family, "description": spec.description,
                     "params": params, "macs": macs, "default_recipe": spec.default_recipe,
                     "reproduces": spec.reproduces, "published": spec.published})
    return rows


def register(app: typer.Typer) -> None:
    @app.command()
    def models(json: bool = Json) -> None:
        """The model zoo: parameters, MACs per image, the seed each reproduces and its published figure."""
        from rich.table import Table

        rows = model_rows()
        if json:
            print_json(rows)
            return
        table = Table("model", "params", "MACs/image", "recipe", "reproduces", "published figure", "what")
        for r in rows:
            table.add_row(r["name"], f"{r['params']:,}", f"{r['macs']:,}", r["default_recipe"],
                          r["reproduces"] or "-", r["published"] or "-", r["description"])
        out.print(table)

    @app.command()
    def recipes(json: bool = Json) -> None:
        """Named recipes (`digitlab train --recipe NAME`): the seeds' exact settings and digitlab's own."""
        from rich.table import Table

        from digitlab.training.recipes import RECIPES

        if json:
            print_json([r.to_json() for r in RECIPES.values()])
            return
        table = Table("recipe", "model", "optimizer", "lr", "batch", "epochs", "norm", "reproduces", "description")
        for r in RECIPES.values():
            table.add_row(r.name, r.model, r.optimizer, f"{r.lr:g}", str(r.batch_size), str(r.epochs),
                          r.normalization, r.reproduces or "-", r.description)
        out.print(table)
