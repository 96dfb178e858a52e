"""The notebooks: each runs top to bottom in fast mode, and the committed .ipynb matches its jupytext source
(the source of truth) and carries clean outputs: no errors, no warnings, no control codes, no machine paths."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.py"))
REQUIRED = ("00-tour", "01-seed-004-numpy-from-scratch", "02-seed-002-mlp", "03-seed-003-book",
            "04-seed-001-lenet-to-fpga", "05-seed-000-hybrid-qnn", "06-deploy-and-serve", "07-your-handwriting")
WIDGET_NOTEBOOKS = ("07-your-handwriting",)  # its drawing canvas is a widget
MACHINE_PATH = re.compile(r"/home/|/root\b|/tmp/|/work/|/Users/|site-packages|[A-Za-z]:\\\\")
ANSI = "\x1b["
CELL_TIMEOUT_S = 300


def output_text(output: dict) -> str:
    """Everything an output shows as text (images excluded: base64 cannot hold a path)."""
    if output["output_type"] == "stream":
        return output["text"]
    if output["output_type"] == "error":
        return "\n".join(output.get("traceback", []))
    return "\n".join(str(v) for k, v in output.get("data", {}).items() if k.startswith("text/") or "json" in k)


def cell_sources(notebook) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def test_every_lesson_the_issue_asks_for_is_here() -> None:
    assert {p.stem for p in SOURCES} >= set(REQUIRED)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_notebook_is_its_source_executed(source: Path) -> None:
    committed = source.with_suffix(".ipynb")
    assert committed.exists(), f"{committed.name} missing: run `make notebooks`"
    notebook = nbformat.read(committed, as_version=4)
    assert cell_sources(notebook) == cell_sources(jupytext.read(source)), \
        f"{committed.name} is out of date with {source.name}: run `make notebooks`"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), "not executed top to bottom"
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), "cells run out of order"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_outputs_are_clean(source: Path) -> None:
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)  # joins multi-line text fields
    for number, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            where = f"{source.stem} cell {number}"
            assert output["output_type"] != "error", f"{where} raised"
            assert output.get("name") != "stderr", f"{where} wrote to stderr: {output.get('text', '')[:200]}"
            text = output_text(output)
            assert ANSI not in text, f"{where}: terminal control codes in the output"
            found = MACHINE_PATH.search(text)
            assert found is None, f"{where}: a path of the machine that ran it: ...{text[found.start() - 60:][:120]}"
            if source.stem not in WIDGET_NOTEBOOKS:
                assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {}), \
                    f"{where}: a widget, which a saved notebook cannot show"


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_in_fast_mode(source: Path, tmp_path: Path, monkeypatch, mnist_dir) -> None:
    monkeypatch.setenv("DIGITLAB_FAST", "1")  # the kernel inherits it
    monkeypatch.setenv("DIGITLAB_DATA", str(mnist_dir))
    notebook = jupytext.read(source)
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on the first failing cell
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            assert output.get("name") != "stderr", f"cell {number} wrote to stderr: {output.get('text', '')[:300]}"
