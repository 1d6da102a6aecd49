"""Fixtures for tests/deploy; the helpers themselves live in deploykit.py (a unique module name)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # any import mode finds deploykit

from deploykit import load_yaml, read_env_file


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return load_yaml("docker-compose.yml")


@pytest.fixture(scope="session")
def compose_cpu() -> dict[str, Any]:
    return load_yaml("docker-compose.cpu.yml")


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return read_env_file(".env.example")
