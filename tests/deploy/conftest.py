"""Fixtures for tests/deploy; the helpers themselves live in deploykit.py (a unique module name)."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # any import mode finds deploykit

from containerkit import own_network
from deploykit import REPO, load_yaml, read_env_file
from enginekit import Engine, docker_engine
from imagekit import base_image, build_serve_image

REPORT = REPO / ".out" / "image-test" / "report.json"


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return load_yaml("docker-compose.yml")


@pytest.fixture(scope="session")
def compose_cpu() -> dict[str, Any]:
    return load_yaml("docker-compose.cpu.yml")


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return read_env_file(".env.example")


# --- the container tests: a real engine, the image built from docker/Dockerfile -------------------------


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    with docker_engine() as engine:
        yield engine


@pytest.fixture(scope="session")
def base(engine: Engine) -> str:
    return base_image(engine)


@pytest.fixture(scope="session")
def serve_image(engine: Engine, base: str) -> str:
    return build_serve_image(engine, base)


@pytest.fixture(scope="session")
def image_report(engine: Engine, base: str, serve_image: str) -> Iterator[dict[str, Any]]:
    """What the container tests measured, written to .out/image-test/report.json for CI logs and notes."""
    size = {tag: int(engine.out("image", "inspect", "--format", "{{.Size}}", tag)) for tag in (base, serve_image)}
    report = {"engine": engine.server_version(), "image_bytes": size[serve_image], "base_bytes": size[base]}
    yield report
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")


@pytest.fixture(scope="session")
def network(engine: Engine) -> Iterator[str]:
    with own_network(engine) as name:
        yield name


@pytest.fixture
def deadline(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test (TimeoutError) after `@pytest.mark.deadline(seconds)`, 120 s unless marked."""
    marker = request.node.get_closest_marker("deadline")
    seconds = marker.args[0] if marker else 120

    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"{request.node.name} ran past its {seconds} s deadline")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deadline(seconds): the `deadline` fixture's limit for this test")
