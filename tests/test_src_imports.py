"""What an installed wheel holds is what src/digitlab imports: nothing from benchmarks/ (or tests/, mk/), no
module loaded by file path, every digitlab.* module present, and every other package declared by digitlab
(core or an extra) or required by one that is."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "digitlab"
# Imported, but neither declared nor installed here, each only behind digitlab.utils.extras.require(...):
NOT_IN_THE_WHEEL = {"qutrunk": "QuTrunk pins an old numpy; it lives in its own venv (docs/hybrid.md)"}
BY_FILE_PATH = {"spec_from_file_location", "SourceFileLoader", "load_source"}  # importlib's; and runpy, sys.path


def imports() -> list[tuple[Path, int, str]]:
    """(file, line, absolute module name) of every import statement under src/digitlab."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path, node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((path, node.lineno, node.module))
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_closure() -> set[str]:
    """digitlab's requirements (core and every extra a user installs: not dev), and theirs, transitively, with
    the extras each asks for (uvicorn[standard]), as far as they are installed here."""
    from packaging.requirements import Requirement

    extras = set(metadata.metadata("digitlab").get_all("Provides-Extra") or []) - {"dev"}
    todo: list[tuple[str, set[str]]] = [("digitlab", extras)]
    seen: set[str] = set()
    while todo:
        name, wanted = todo.pop()
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requirements:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in wanted | {""}):
                key = normalise(req.name)
                if key not in seen:
                    seen.add(key)
                    todo.append((key, set(req.extras)))
    return seen


def test_nothing_under_src_imports_benchmarks_tests_or_mk():
    bad = [f"{p.relative_to(SRC.parent)}:{line} imports {name}" for p, line, name in imports()
           if name.split(".")[0] in {"benchmarks", "tests", "mk", "conftest"}]
    assert not bad, bad


def test_nothing_under_src_loads_a_module_by_file_path():
    bad = [f"{p.relative_to(SRC.parent)}:{line} imports {name}" for p, line, name in imports()
           if name.split(".")[0] == "runpy"]
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([node.attr] if isinstance(node, ast.Attribute)
                     else [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else [])
            if set(names) & BY_FILE_PATH:
                bad.append(f"{path.relative_to(SRC.parent)}:{node.lineno} uses {names}")
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                bad.append(f"{path.relative_to(SRC.parent)}:{node.lineno} changes where imports come from (sys.path)")
    assert not bad, bad


def test_every_digitlab_module_imported_is_a_file_of_the_package():
    missing = []
    for path, line, name in imports():
        if name.split(".")[0] != "digitlab":
            continue
        target = SRC.parent.joinpath(*name.split("."))
        if not (target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()):
            missing.append(f"{path.relative_to(SRC.parent)}:{line} imports {name}")
    assert not missing, missing


def test_every_other_import_is_declared_by_digitlab_or_a_declared_package():
    declared = declared_closure()
    assert {"numpy", "torch", "typer", "fastapi", "onnxruntime"} <= declared  # the closure was read at all
    providers = metadata.packages_distributions()
    undeclared = []
    for path, line, name in imports():
        top = name.split(".")[0]
        if top == "digitlab" or top in sys.stdlib_module_names or top in NOT_IN_THE_WHEEL:
            continue
        dists = {normalise(d) for d in providers.get(top, [])}
        if not dists & declared:
            undeclared.append(f"{path.relative_to(SRC.parent)}:{line} imports {name} (from {sorted(dists) or '?'})")
    assert not undeclared, undeclared


@pytest.mark.parametrize("module", ["digitlab.bench", "digitlab.bench.stats", "digitlab.bench.loadgen",
                                    "digitlab.bench.load", "digitlab.bench.startup", "digitlab.bench.machine"])
def test_bench_modules_import_without_torch_or_the_cli(module):
    """The light benchmarks (start-up, load, the load generator) must not pay for torch or typer to start."""
    import subprocess

    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'typer') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
