"""The layers stay apart (HTTP -> core engine -> model backends) and no import cycle runs between modules.

Read statically from the source, so the checks are fast and do not depend on the order the suite imported
things in. Imports under `if TYPE_CHECKING:` are left out: they never run.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "service"

CORE_PARTS = ("service.batching", "service.batch_step", "service.faces", "service.model", "service.loading")
"""What only the core may import: the HTTP layer reaches the model through `service.engine` alone."""
BACKENDS = ("service.model", "service.faces")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_module(module: str, name: str) -> str:
    """`from package import submodule` imports the submodule; `from module import name` the module."""
    submodule = ROOT.joinpath(*module.split("."), f"{name}.py")
    return f"{module}.{name}" if submodule.is_file() else module


def _runtime_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for child in ast.walk(node)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names.update(_imported_module(node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("service")}


GRAPH = {_module_name(path): _runtime_imports(path) for path in sorted(SERVICE.rglob("*.py"))}
HTTP_MODULES = sorted(name for name in GRAPH if name.startswith("service.api"))
BACKEND_MODULES = sorted(name for name in GRAPH if name.startswith(BACKENDS))


@pytest.mark.parametrize("module", HTTP_MODULES)
def test_http_layer_reaches_the_model_only_through_the_engine(module: str):
    reached = sorted(name for name in GRAPH[module] if name.startswith(CORE_PARTS))
    assert not reached, f"{module} imports the engine's parts {reached}; go through service.engine"


@pytest.mark.parametrize("module", BACKEND_MODULES)
def test_model_backends_know_nothing_of_serving(module: str):
    serving = sorted(name for name in GRAPH[module] if not name.startswith(BACKENDS))
    assert not serving, f"{module} imports the serving layers {serving}"


def test_no_import_cycles():
    try:
        TopologicalSorter({module: GRAPH[module] & GRAPH.keys() for module in GRAPH}).prepare()
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
