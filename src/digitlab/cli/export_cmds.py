"""`digitlab export` (deploy formats, with --check) and `digitlab import-state-dict`."""

from __future__ import annotations

from pathlib import Path

import typer

from digitlab.cli.options import DataDir, Json
from digitlab.errors import DigitlabError
from digitlab.utils.console import err, out, print_json


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        model: str = typer.Argument(..., help="A run directory, a model directory, or a shipped model name."),
        fmt: str = typer.Option(..., "--format", "-f",
                                help="state-dict, torchscript, onnx, onnx-int8, c or hls4ml (see docs/deploy.md)."),
        out_path: Path = typer.Option(None, "--out", "-o",
                                      help="Output file (a directory for c; default: ./MODEL.FORMAT-SUFFIX)."),
        check: bool = typer.Option(False, "--check", help="Run the export with its own runtime on the test set "
                                                          "and compare it with PyTorch (default: write only)."),
        limit: int = typer.Option(None, "--limit", min=1,
                                  help="--check on the first N test images only (default: all of them)."),
        attach: bool = typer.Option(False, "--attach", help="onnx only: write model.onnx into the model's own "
                                    "directory (checked against torch), where `digitlab predict` runs it in ONNX "
                                    "Runtime without importing torch (default: write to --out)."),
        dataset: str = typer.Option(None, "--dataset", "-d",
                                    help="Calibration and --check data (default: the model's own dataset)."),
        data_dir: Path = DataDir,
        json: bool = Json,
    ) -> None:
        """Export a trained model for deployment: TorchScript (C++), ONNX, int8 ONNX, or integer-only C99."""
        from digitlab.export import default_output, export_model, get_format, torch_model
        from digitlab.export.check import check_export, evaluation_data
        from digitlab.inference.classifier import load_classifier

        spec = get_format(fmt)
        classifier = torch_model(load_classifier(model))
        data_dir_str = str(data_dir) if data_dir else None
        need_data = check or spec.quantized
        test, train = evaluation_data(classifier, dataset, data_dir_str) if need_data else (None, None)
        if check and limit:
            test = test.take(slice(0, limit))
        if attach:
            from digitlab.inference.onnx_runtime import attach_onnx

            if fmt != "onnx" or out_path is not None:
                raise DigitlabError("--attach writes model.onnx beside the weights: use it with --format onnx and "
                                    "without --out")
            written = attach_onnx(model)
        else:
            target = out_path or default_output(classifier, fmt)
            written = export_model(classifier, fmt, target, calibration=train.images if spec.quantized else None)
        doc = {"format": fmt, "path": str(written), "model": classifier.name, "bytes": _size(written)}
        if not json:
            out.print(f"wrote {written} ({fmt}, {doc['bytes']:,} bytes)")
        if check:
            if not json:
                err.print(f"[dim]checking on {len(test)} test images...[/dim]")
            result = check_export(fmt, written, classifier, test.images, test.labels)
            doc.update(result.to_json())
            if not json:
                out.print(f"accuracy {result.accuracy:.2%} (PyTorch {result.reference_accuracy:.2%}), argmax "
                          f"agreement {result.agreement:.2%}, max |logit diff| {result.max_abs_diff:.3g} "
                          f"on {result.images} images")
                mark = "[green]met[/green]" if result.goal_met else "[yellow]missed[/yellow]"
                out.print(f"goal ({result.goal}): {mark}")
        if json:
            print_json(doc)

    @app.command("import-state-dict")
    def import_state_dict_cmd(
        state_dict: Path = typer.Argument(..., help="A .pt file written by torch.save(model.state_dict())."),
        model: str = typer.Option(..., "--model", "-m", help="Registry model it belongs to (see `digitlab models`)."),
        out_dir: Path = typer.Option(..., "--out", "-o", help="Model directory to write (safetensors + json)."),
        normalization: str = typer.Option("none", "--normalization",
                                          help="Input normalisation it was trained with: none, mnist or symmetric."),
        arg: list[str] = typer.Option(None, "--arg", help="Model argument KEY=VALUE (repeatable; default: the "
                                      "model's registered arguments)."),
        json: bool = Json,
    ) -> None:
        """Load a seed-style state_dict (weights_only: tensors only, nothing else is unpickled) as a digitlab model."""
        from digitlab.cli.train_cmds import parse_model_args
        from digitlab.export.state_dict import import_state_dict
        from digitlab.inference.classifier import load_classifier

        written = import_state_dict(state_dict, model, out_dir, normalization=normalization,
                                    args=parse_model_args(arg))
        loaded = load_classifier(written)
        doc = {"path": str(written), "model": loaded.name, "classes": len(loaded.classes),
               "by_position": loaded.meta.get("imported_by_position", False)}
        if json:
            print_json(doc)
            return
        how = " (matched by layer order)" if doc["by_position"] else ""
        out.print(f"wrote {written}: {loaded.name}, {doc['classes']} classes{how}; try `digitlab eval {written}`")
