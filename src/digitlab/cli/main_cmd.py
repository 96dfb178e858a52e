"""`digitlab main`: the job `make run` runs."""

from __future__ import annotations

import typer

from digitlab.console import out


def register(app: typer.Typer) -> None:
    @app.command(hidden=True)
    def main() -> None:
        """Fetch MNIST and describe it (the training issue turns this into train + report)."""
        from digitlab.cli.data_cmds import info

        info(dataset="mnist", data_dir=None, json=False)
        out.print("next: `digitlab data show --out grid.png`")
