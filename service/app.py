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

import torch
from fastapi import FastAPI

from service.api import health, models, predict
from service.api.errors import install_error_handlers
from service.api.middleware import RequestMetricsMiddleware
from service.config import Settings
from service.engine import Engine, warmup_sizes
from service.loading import build_finder, load_predictor
from service.metrics import Metrics
from service.state import ServiceState

log = logging.getLogger(__name__)


async def start_engine(state: ServiceState) -> None:
    """Load, warm up, start the batcher; only then is the service ready."""
    settings = state.settings
    start = time.perf_counter()
    try:
        predictor = await asyncio.to_thread(
            load_predictor, settings.model_dir, settings.model_store, settings.device, settings.dtype, settings.compile
        )
        device = torch.device(predictor.info.device)
        finder = await asyncio.to_thread(build_finder, settings, device, predictor.info.architecture["input_hw"])
        engine = Engine(predictor, finder, settings, state.metrics)
        if settings.warmup:
            await asyncio.to_thread(engine.warmup, warmup_sizes(settings.max_batch_size))
        await engine.batcher.start()
    except Exception as exc:  # noqa: BLE001 - reported through /health/ready and the log
        state.load_error = str(exc)
        log.error("model failed to load: %s", exc)
        return
    state.metrics.model_load_seconds.set(time.perf_counter() - start)
    state.engine = engine
    log.info("ready: %s in %.1f s", predictor.info.name, time.perf_counter() - start)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServiceState = app.state.service
    loader = asyncio.create_task(start_engine(state))
    yield
    state.draining = True
    await loader
    if state.engine is not None:
        await state.engine.stop()


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="motivnet-serve",
        summary="Facial emotion recognition with MotivNet: every face in a photo, its emotion and probabilities.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = ServiceState(settings=settings, metrics=Metrics(settings.max_batch_size))
    app.include_router(predict.router)
    app.include_router(health.router)
    app.include_router(models.router)
    install_error_handlers(app)
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.service.metrics)
    return app
