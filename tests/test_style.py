"""The code stays in the house style that ruff and mypy can check (config in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

PATHS = ["motivnet_serve", "tests", "bench", "docker"]


def test_ruff_lint_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", *PATHS], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_ruff_format_is_clean():
    command = [sys.executable, "-m", "ruff", "format", "--check", *PATHS]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.typecheck
@pytest.mark.slow
def test_mypy_strict_is_clean():
    """mypy --strict over motivnet_serve/ with the pydantic plugin (config in pyproject.toml)."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout
