"""The FastAPI application: `create_app(settings)` and its lifespan.

The model loads in the background after the server starts, so `/health/live` answers at once and
`/health/ready` says 503 until the model is loaded and warm; a load failure keeps ready at 503 with the
reason, and is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from motivnet_serve.core.engine import Engine
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.router.access import ApiKeyMiddleware
from motivnet_serve.router.engine_options import engine_options
from motivnet_serve.router.errors import install_error_handlers
from motivnet_serve.router.headers import NoSniffMiddleware
from motivnet_serve.router.internal_errors import InternalErrorMiddleware
from motivnet_serve.router.limits import GrpcEndpoint, grpc_endpoint, route_limits
from motivnet_serve.router.middleware import RequestMetricsMiddleware
from motivnet_serve.router.origins import OriginGuardMiddleware
from motivnet_serve.router.request_context import RequestContextMiddleware
from motivnet_serve.router.routes import health, models, oip, predict, stream, video
from motivnet_serve.router.routes.page import install_page
from motivnet_serve.router.routes.predict import TIMING_HEADERS
from motivnet_serve.router.state import ServiceState
from motivnet_serve.settings import Settings

if TYPE_CHECKING:
    from motivnet_serve.router.oip.grpc_server import ReadinessHealth

log = logging.getLogger(__name__)


async def start_engine(state: ServiceState, settings: Settings) -> None:
    """Load, warm up, start the batcher; only then is the service ready."""
    start = time.perf_counter()
    try:
        engine = await Engine.start(engine_options(settings), state.metrics, warm=settings.warmup)
    except Exception as exc:  # noqa: BLE001 - reported through /health/ready and the log; answers never show paths
        state.load_error = f"{type(exc).__name__}; the server log has the details"
        log.error("model failed to load: %s", exc)
        return
    state.engine = engine
    log.info("ready: %s in %.1f s", engine.describe().name, time.perf_counter() - start)


def lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan, holding the settings the engine starts from (the routes never see them); the gRPC
    server (when `grpc_port` is set) lives as long as the app, and stops after the drain."""

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        state: ServiceState = app.state.service
        async with grpc_serving_if_on(state, grpc_endpoint(settings)) as health:
            loader = asyncio.create_task(start_engine(state, settings))
            if health is not None:
                loader.add_done_callback(health.refresh_soon)
            yield
            state.draining = True
            if health is not None:
                await health.refresh()
            await loader
            await state.drain(state.limits.drain_timeout_s)

    return running


def grpc_serving_if_on(
    state: ServiceState, endpoint: GrpcEndpoint | None
) -> AbstractAsyncContextManager[ReadinessHealth | None]:
    """The gRPC server when it has an endpoint; imported only then, so HTTP alone needs no `grpc` extra."""
    if endpoint is None:
        return nullcontext(None)
    from motivnet_serve.router.oip.grpc_server import grpc_serving

    return grpc_serving(state, endpoint)


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="motivnet-serve",
        summary="Facial emotion recognition with MotivNet: every face in a photo, its emotion and probabilities.",
        version="0.1.0",
        lifespan=lifespan(settings),
    )
    app.state.service = ServiceState(limits=route_limits(settings), metrics=Metrics(settings.max_batch_size))
    app.include_router(predict.router)
    app.include_router(video.router)
    app.include_router(stream.router)
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(oip.router)
    if settings.demo:
        install_page(app)
    install_error_handlers(app)
    add_middleware(app, settings, app.state.service.metrics)
    return app


def add_middleware(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """Innermost first: errors become one log line, then API keys, origins, CORS, request metrics, nosniff, and
    outermost the request's id and span, so they cover everything the others do."""
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_key_list, metrics_public=settings.metrics_public)
    app.add_middleware(OriginGuardMiddleware, allowed=settings.cors_origin_list)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origin_list),
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "x-request-id", "traceparent", "tracestate"],
            expose_headers=[*TIMING_HEADERS, "x-request-id"],
        )
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.add_middleware(NoSniffMiddleware)
    app.add_middleware(RequestContextMiddleware)
