"""An app with the tiny model behind httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from motivnet_serve.router.app import create_app
from motivnet_serve.settings import Settings
from tests.conftest import TINY_DIR


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True, scope="session")
def _detector_weights(bundled_weights):
    """Every app here detects faces with the bundled MobileNet RetinaFace."""


def tiny_settings(**overrides) -> Settings:
    """No warm-up unless asked: these tests are about HTTP, and a warm-up (a second per app on 2 busy cores) is
    the subject of tests/core/test_batch_step.py and of test_server.py's readiness test, which keep it."""
    defaults = {"model_dir": str(TINY_DIR), "device": "cpu", "max_batch_size": 4, "warmup": False}
    return Settings.from_flat(**{**defaults, **overrides})


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app through its lifespan, once ready; a client speaking ASGI to it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            await wait_ready(client)
            yield client


async def wait_ready(client: httpx.AsyncClient, seconds: float = 120) -> None:
    """Polls readiness; the deadline guards a stall (loading and warm-up take seconds on busy cores)."""
    give_up = time.monotonic() + seconds
    while (await client.get("/health/ready")).status_code != 200:
        assert time.monotonic() < give_up, "server never became ready"
        await asyncio.sleep(0.05)
