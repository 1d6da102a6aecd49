"""The engine in-process with the bundled model: a recorded video's (background) detection answers exactly as
a photo's does, and a request that reaches detection after the drain began is refused with 503, not 500."""

from __future__ import annotations

import asyncio
import time

import pytest

from motivnet_serve.core.engine import Classified, Engine
from motivnet_serve.core.errors import NotReadyError
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.router.engine_options import engine_options
from motivnet_serve.settings import Settings
from tests.conftest import ROOT
from tests.photos import load_photo, photo_paths

SETTINGS = Settings(
    model_dir=str(ROOT / "model_store" / "mini-xception"), model_store=ROOT / "model_store", device="cpu"
)


async def _started() -> Engine:
    return await Engine.start(engine_options(SETTINGS), Metrics(SETTINGS.max_batch_size), warm=False)


def test_background_detection_answers_exactly_as_foreground():
    image = load_photo(photo_paths()["multi_face.jpg"])

    async def both() -> tuple[Classified, Classified]:
        engine = await _started()
        try:
            deadline = time.monotonic() + 60
            foreground = await engine.classify([image], detect=True, deadline=deadline)
            background = await engine.classify([image], detect=True, deadline=deadline, background=True)
        finally:
            await engine.drain()
        return foreground, background

    foreground, background = asyncio.run(both())
    assert len(foreground.images[0]) == 5
    assert background.images == foreground.images


def test_a_request_reaching_detection_after_the_drain_began_gets_503():
    image = load_photo(photo_paths()["multi_face.jpg"])

    async def after_drain() -> None:
        engine = await _started()
        await engine.drain()
        await engine.classify([image], detect=True, deadline=time.monotonic() + 60)

    with pytest.raises(NotReadyError, match="shutting down"):
        asyncio.run(after_drain())
