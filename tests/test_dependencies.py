"""What the installed environment must hold (every package the code imports, declared) and must not: a second
OpenCV wheel. Two `cv2` packages in one venv overwrite each other's files; the detector's extra brings
opencv-contrib-python-headless, so nothing else may bring another (newer `trackers` releases require
opencv-python: that is why it is pinned to 2.1.0)."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import distributions, packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as canonical

from tests.conftest import ROOT


def test_at_most_one_opencv_wheel_is_installed():
    names = sorted({dist.metadata["Name"].lower() for dist in distributions()})
    opencv = [name for name in names if name.startswith("opencv")]
    assert len(opencv) <= 1, f"more than one OpenCV wheel installed: {opencv}"
    assert "trackers" in names
    assert "av" in names


# Imported directly but installed and version-bound by the declared package they belong to.
PART_OF = {"starlette": "fastapi", "pydantic_core": "pydantic"}


def imported_top_level_modules(package: Path) -> set[str]:
    """Third-party modules the package imports anywhere (inside functions too), read from the source."""
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {package.name}


def test_every_imported_package_is_declared():
    """`pip install motivnet-serve` must bring what its modules import (the client's websockets included)."""
    declared = {canonical(Requirement(line).name) for line in requires("motivnet-serve") or []}
    owners = packages_distributions()
    undeclared = []
    for module in sorted(imported_top_level_modules(ROOT / "motivnet_serve")):
        wanted = {canonical(name) for name in owners.get(module, [module])}
        if not wanted & declared and PART_OF.get(module) not in declared:
            undeclared.append(module)
    assert not undeclared, f"imported but not in pyproject.toml's dependencies or extras: {undeclared}"
