"""The package's folders are its layers, and imports only run downwards: cli -> router -> pipelines -> core ->
backends, with the settings and the client beside them and no import cycle anywhere.

Read statically from the source, so the checks are fast and do not depend on the order the suite imported
things in. Imports under `if TYPE_CHECKING:` are left out: they never run. Importing a module runs its
parent packages' `__init__` first, so each import also counts as an import of every package above it.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "motivnet_serve"

LAYERS = ("cli", "router", "pipelines", "core", "backends")
"""Top to bottom; a layer may import the layers below it, except where BARRED says otherwise."""
BARRED = {("router", "backends"), ("pipelines", "backends")}
"""HTTP and the video pipelines reach the model only through the core's engine."""
STANDALONE = ("settings", "client")
"""Any layer may import these; they import nothing of the package (so neither loads a network)."""
NETWORK_CODE = ("torch", f"{PACKAGE}.backends")
WITHOUT_SETTINGS = ("pipelines",)
"""Layers handed the few values they use by the composition roots (create_app, the CLI), never `Settings`;
they may not import the settings module at all, not even for type hints."""
WITHOUT_WHOLE_SETTINGS = ("core", "backends")
"""Layers that may read a settings group (`CompileOptions`, `DetectorOptions`) or a word list, but never the
whole `Settings`: the engine is started with `EngineOptions`, built by the composition roots."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_module(module: str, name: str) -> str:
    """`from package import submodule` imports the submodule; `from module import name` the module."""
    submodule = ROOT.joinpath(*module.split("."), f"{name}.py")
    return f"{module}.{name}" if submodule.is_file() else module


def with_parents(module: str) -> set[str]:
    """The module and every package above it (their `__init__` runs first)."""
    parts = module.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts) + 1)}


def runtime_imports(source: str, package: str = PACKAGE, type_checking: bool = False) -> set[str]:
    """The package's (and torch's) modules that `source` imports; those under `if TYPE_CHECKING:` only when
    `type_checking`."""
    tree = ast.parse(source)
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) and not type_checking
        for child in ast.walk(node)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names.update(imported_module(node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {parent for name in names for parent in with_parents(name) if parent.split(".")[0] in (package, "torch")}


def build_graph(root: Path) -> dict[str, set[str]]:
    return {module_name(path): runtime_imports(path.read_text()) for path in sorted(root.rglob("*.py"))}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in (*LAYERS, *STANDALONE) else None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every edge that runs upwards, across a barred gap, or out of a standalone module."""
    found = []
    for module, imports in graph.items():
        source = layer_of(module)
        for target in sorted(imports):
            wanted = layer_of(target)
            if source is None or wanted is None or wanted == source:
                continue
            if wanted in STANDALONE:
                continue
            if source in STANDALONE or LAYERS.index(wanted) < LAYERS.index(source) or (source, wanted) in BARRED:
                found.append(f"{module} -> {target}")
    return found


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def cycles(graph: dict[str, set[str]]) -> list[str]:
    edges = {
        module: {name for name in imports if name in graph and name != module} for module, imports in graph.items()
    }
    # A package's __init__ importing its own submodules is how packages re-export; a parent edge back is not a cycle.
    edges = {module: {name for name in names if not name.startswith(f"{module}.")} for module, names in edges.items()}
    try:
        TopologicalSorter(edges).prepare()
    except CycleError as exc:
        return list(exc.args[1])
    return []


def settings_readers(graph: dict[str, set[str]]) -> list[str]:
    """Every import of the settings module from a layer that must be handed values instead."""
    settings = f"{PACKAGE}.settings"
    return [
        f"{module} -> {settings}"
        for module, imports in graph.items()
        if layer_of(module) in WITHOUT_SETTINGS and settings in imports
    ]


def whole_settings_readers(sources: dict[str, str]) -> list[str]:
    """Every module of a layer in WITHOUT_WHOLE_SETTINGS that names `Settings` from the settings module."""
    return [
        module
        for module, source in sources.items()
        if layer_of(module) in WITHOUT_WHOLE_SETTINGS
        and any(
            isinstance(node, ast.ImportFrom)
            and node.module == f"{PACKAGE}.settings"
            and any(alias.name == "Settings" for alias in node.names)
            for node in ast.walk(ast.parse(source))
        )
    ]


GRAPH = build_graph(ROOT / PACKAGE)


def test_imports_run_only_downwards_through_the_layers():
    assert layer_violations(GRAPH) == []


def test_the_pipelines_never_import_the_settings():
    every_import = {
        module_name(path): runtime_imports(path.read_text(), type_checking=True)
        for path in sorted((ROOT / PACKAGE).rglob("*.py"))
    }
    assert settings_readers(every_import) == []


def test_the_core_and_backends_never_take_the_whole_settings():
    sources = {module_name(path): path.read_text() for path in sorted((ROOT / PACKAGE).rglob("*.py"))}
    assert whole_settings_readers(sources) == []


def test_no_import_cycles():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("module", [f"{PACKAGE}.{name}" for name in STANDALONE])
def test_the_settings_and_the_client_load_no_network(module: str):
    reached = closure(GRAPH, module)
    assert not {name for name in reached if name.startswith(NETWORK_CODE)}, f"{module} reaches network code"


def test_the_package_has_no_module_outside_its_layers():
    loose = sorted(name for name in GRAPH if name.count(".") >= 1 and layer_of(name) is None)
    assert loose in ([], [f"{PACKAGE}.__main__"]), loose


# The checks themselves, on small made-up graphs: each fails on the fault it exists for.


def test_the_layer_check_catches_a_backwards_import():
    graph = {f"{PACKAGE}.core.engine": {f"{PACKAGE}.router", f"{PACKAGE}.router.app"}}
    assert layer_violations(graph) == [
        f"{PACKAGE}.core.engine -> {PACKAGE}.router",
        f"{PACKAGE}.core.engine -> {PACKAGE}.router.app",
    ]


def test_the_layer_check_catches_http_reaching_the_model():
    graph = {f"{PACKAGE}.router.app": {f"{PACKAGE}.backends.emotion.spec"}}
    assert layer_violations(graph) == [f"{PACKAGE}.router.app -> {PACKAGE}.backends.emotion.spec"]


def test_the_settings_check_catches_a_pipeline_reading_the_settings():
    source = f"from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from {PACKAGE}.settings import Settings\n"
    graph = {
        f"{PACKAGE}.pipelines.decode": runtime_imports(source, type_checking=True),
        f"{PACKAGE}.router.limits": {f"{PACKAGE}.settings"},
    }
    assert settings_readers(graph) == [f"{PACKAGE}.pipelines.decode -> {PACKAGE}.settings"]


def test_the_whole_settings_check_catches_the_engine_taking_them():
    sources = {
        f"{PACKAGE}.core.engine": f"from {PACKAGE}.settings import CompileOptions, Settings\n",
        f"{PACKAGE}.core.loading": f"from {PACKAGE}.settings import CompileOptions, DetectorOptions\n",
        f"{PACKAGE}.router.app": f"from {PACKAGE}.settings import Settings\n",
    }
    assert whole_settings_readers(sources) == [f"{PACKAGE}.core.engine"]


def test_the_cycle_check_catches_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert sorted(set(cycles(graph))) == ["a", "b", "c"]


def test_parent_packages_count_so_a_network_behind_an_init_is_found():
    source = f"from {PACKAGE}.backends.faces.face import Face\n"
    assert f"{PACKAGE}.backends.faces" in runtime_imports(source)
    graph = {f"{PACKAGE}.settings": runtime_imports(source), f"{PACKAGE}.backends.faces": {"torch"}}
    assert "torch" in closure(graph, f"{PACKAGE}.settings")


def test_type_checking_imports_are_left_out():
    source = f"from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from {PACKAGE}.router import app\n"
    assert runtime_imports(source) == set()
