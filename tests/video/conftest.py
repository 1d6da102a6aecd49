"""A real server for the footage tests: the bundled mini-Xception model with MobileNet face detection."""

from __future__ import annotations

import pytest

from bench.server_process import ServerProcess
from tests.conftest import MODEL_STORE

FRAME_DEADLINE_S = 30
"""The server's deadline for one frame (`request_timeout_ms`); a reply later than this is a silent frame."""
MINI = str(MODEL_STORE / "mini-xception")


@pytest.fixture(scope="module")
def server(bundled_weights):  # noqa: ARG001 - the bundled model must be fetched first
    env = {"MOTIVNET_REQUEST_TIMEOUT_MS": str(FRAME_DEADLINE_S * 1000)}
    with ServerProcess("--model-dir", MINI, env=env) as process:
        process.wait_ready()
        yield process
