"""The FastAPI application: `create_app(settings)` and its lifespan.

The model loads in the background after the server starts, so `/health/live` answers at once and
`/health/ready` says 503 until the model is loaded and warm; a load failure keeps ready at 503 with the
reason, and is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api import health, models, predict, stream, video
from service.api.errors import install_error_handlers
from service.api.middleware import RequestMetricsMiddleware
from service.api.page import install_page
from service.config import Settings
from service.engine import Engine
from service.metrics import Metrics
from service.state import ServiceState

log = logging.getLogger(__name__)


async def start_engine(state: ServiceState) -> None:
    """Load, warm up, start the batcher; only then is the service ready."""
    start = time.perf_counter()
    try:
        engine = await Engine.start(state.settings, state.metrics, warm=state.settings.warmup)
    except Exception as exc:  # noqa: BLE001 - reported through /health/ready and the log
        state.load_error = str(exc)
        log.error("model failed to load: %s", exc)
        return
    state.engine = engine
    log.info("ready: %s in %.1f s", engine.describe().name, time.perf_counter() - start)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServiceState = app.state.service
    loader = asyncio.create_task(start_engine(state))
    yield
    state.draining = True
    await loader
    if state.engine is not None:
        await state.engine.drain()


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="motivnet-serve",
        summary="Facial emotion recognition with MotivNet: every face in a photo, its emotion and probabilities.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = ServiceState(settings=settings, metrics=Metrics(settings.max_batch_size))
    app.include_router(predict.router)
    app.include_router(video.router)
    app.include_router(stream.router)
    app.include_router(health.router)
    app.include_router(models.router)
    if settings.demo:
        install_page(app)
    install_error_handlers(app)
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.service.metrics)
    return app
