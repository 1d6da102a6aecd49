"""One real server for all the footage tests (corpus and generative): the bundled mini-Xception model with
MobileNet face detection."""

from __future__ import annotations

import pytest

from bench.server_process import ServerProcess
from tests.conftest import MODEL_STORE

FRAME_DEADLINE_S = 30
"""The server's deadline for one frame (`request_timeout_ms`); a reply later than this is a silent frame."""
MINI = str(MODEL_STORE / "mini-xception")
STREAM_FRAMES_IN_FLIGHT = 16
"""Enough that a corpus clip's frames, sent at once, are all analysed (none overtaken and skipped)."""


@pytest.fixture(scope="session")
def server(bundled_weights):  # noqa: ARG001 - the bundled model must be fetched first
    env = {
        "MOTIVNET_REQUEST_TIMEOUT_MS": str(FRAME_DEADLINE_S * 1000),
        "MOTIVNET_STREAM_FRAMES_IN_FLIGHT": str(STREAM_FRAMES_IN_FLIGHT),
    }
    with ServerProcess("--model-dir", MINI, env=env) as process:
        process.wait_ready()
        yield process
