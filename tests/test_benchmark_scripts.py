"""benchmarks/: every script backs a figure (or is a make target); what backs none lives in explorations/ with a
README line; and every digitlab name a script imports exists (so a move inside the package cannot leave a script
broken until someone next runs it)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
# Where a script's figure (or its make target) is named.
FIGURE_DOCS = [ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "hybrid.md", ROOT / "mk" / "gpu.mk"]
SCRIPTS = sorted(BENCHMARKS.rglob("*.py"))


def test_every_script_in_benchmarks_backs_a_figure_or_a_make_target():
    named = "\n".join(doc.read_text() for doc in FIGURE_DOCS if doc.exists())
    top = [p.name for p in sorted(BENCHMARKS.glob("*.py"))]
    unbacked = [name for name in top if f"benchmarks/{name}" not in named]
    assert not unbacked, f"move these to benchmarks/explorations/ (with a README line) or record their figure: " \
                         f"{unbacked}"


def test_every_exploration_has_a_readme_line():
    readme = (BENCHMARKS / "explorations" / "README.md").read_text()
    missing = [p.name for p in sorted((BENCHMARKS / "explorations").glob("*.py")) if f"`{p.name}`" not in readme]
    assert not missing, missing


def digitlab_imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name or None) for each digitlab import in a script, at any depth (functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "digitlab":
            found += [(node.lineno, node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] == "digitlab"]
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(p.relative_to(BENCHMARKS)) for p in SCRIPTS])
def test_every_digitlab_name_a_script_imports_exists(script):
    broken = []
    for line, module_name, name in digitlab_imports(script):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if (e.name or "").split(".")[0] == "digitlab":
                broken.append(f"{line}: no module {module_name}")
            continue  # an optional extra this environment lacks: not the script's fault
        if name and not hasattr(module, name):
            try:
                importlib.import_module(f"{module_name}.{name}")
            except ModuleNotFoundError:
                broken.append(f"{line}: {module_name} has no {name}")
    assert not broken, broken


RECIPE_FILES = sorted((BENCHMARKS / "recipes").glob("*.json"))


@pytest.mark.parametrize("path", RECIPE_FILES, ids=[p.name for p in RECIPE_FILES])
def test_every_recipe_file_loads_and_backs_a_figure(path):
    from digitlab.training.recipes import get_recipe

    assert get_recipe(str(path)).name == path.stem  # valid against today's Recipe and augmentation keys
    assert f"benchmarks/recipes/{path.name}" in (ROOT / "docs" / "benchmarks.md").read_text()
