"""`digitlab calibrate`: fit a model's temperature on held-out data and record it in its model.json."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

import typer

from digitlab.cli.options import DataDir, Json
from digitlab.errors import DigitlabError
from digitlab.utils.console import out, print_json


def register(app: typer.Typer) -> None:
    @app.command()
    def calibrate(
        model: str = typer.Argument(..., help="A model or run directory, or a shipped model name."),
        split: str = typer.Option("val", "--split", help="val: the validation holdout the model's recipe kept out "
                                  "of training (the test split is for measuring, never for fitting)."),
        data_dir: Path = DataDir,
        json: bool = Json,
    ) -> None:
        """Fit a model's temperature on the validation split so its probabilities mean what they say."""
        from digitlab.data.datasets import load_dataset
        from digitlab.inference.calibration import calibrate as fit
        from digitlab.inference.classifier import META, load_classifier, resolve_model_dir
        from digitlab.utils.fileio import atomic_write_json

        if split != "val":
            raise DigitlabError(f"--split {split}: calibrate on val (test measures the result; train was learnt)")
        directory = resolve_model_dir(model)
        meta = jsonlib.loads((directory / META).read_text())
        data = meta.get("data") or {}
        held_out = data.get("val")
        if not held_out:
            raise DigitlabError(f"{directory}: its model.json records no validation holdout (data.val), so no "
                                "images are known to be unseen by it")
        classifier = load_classifier(directory, runtime="torch")
        ds = load_dataset(data.get("dataset", "mnist"), str(data_dir) if data_dir else None)
        _, val = ds.split_validation(int(held_out))  # the recipe's holdout: the last data.val training images
        if tuple(classifier.classes) != tuple(ds.classes):  # a k-class model (seed 000: 0 and 1)
            if not set(classifier.classes) <= set(ds.classes):
                raise DigitlabError(f"model classes {list(classifier.classes)} are not {ds.name}'s")
            keep = [ds.classes.index(c) for c in classifier.classes]
            val = val.select(keep).relabel(keep)
        entry = fit(classifier, val)
        meta["calibration"] = entry  # only this key changes: the weights, and a model.onnx's check of them, stay
        atomic_write_json(directory / META, meta)
        if json:
            print_json({"model": str(directory), **entry})
            return
        out.print(f"{directory}: temperature {entry['temperature']:.4g} fitted on {entry['n']} validation images; "
                  f"ECE {entry['ece_before']:.2%} -> {entry['ece_after']:.2%}, "
                  f"NLL {entry['nll_before']:.4f} -> {entry['nll_after']:.4f}")
