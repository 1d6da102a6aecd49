"""The gRPC server (`grpc.aio`) on `grpc_port`, on the HTTP server's event loop, in the app's lifespan.

It starts with the app (before the model is loaded: the probes answer at once) and stops after the engine's
drain, so a call in flight at SIGTERM gets its answer; calls arriving during the drain are refused as
UNAVAILABLE. Health is the standard `grpc.health.v1.Health` service, for the whole server ("") and for
`inference.GRPCInferenceService`: SERVING once the model is ready, NOT_SERVING while loading or draining
(read again at each `Check`, set at once when loading ends and when the drain begins).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from motivnet_serve.router.access import ApiKeys
from motivnet_serve.router.limits import GrpcEndpoint
from motivnet_serve.router.oip.grpc_service import SERVICE, InferenceService, handlers
from motivnet_serve.router.state import ServiceState

log = logging.getLogger(__name__)

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


class ReadinessHealth(health_aio.HealthServicer):  # type: ignore[misc]  # grpcio-health-checking is untyped
    """The standard health service, answering from the service's own readiness."""

    def __init__(self, state: ServiceState) -> None:
        super().__init__()
        self.state = state
        self._refreshing: set[asyncio.Future[None]] = set()

    def refresh_soon(self, _: object = None) -> None:
        """`refresh` from a callback (the model's loading task ending); the task is kept until it ends."""
        refreshing = asyncio.ensure_future(self.refresh())
        self._refreshing.add(refreshing)
        refreshing.add_done_callback(self._refreshing.discard)

    async def refresh(self) -> None:
        status = SERVING if self.state.not_ready_reason is None else NOT_SERVING
        for name in ("", SERVICE):
            await self.set(name, status)

    async def Check(self, request: Any, context: Any) -> Any:
        await self.refresh()
        return await super().Check(request, context)


@asynccontextmanager
async def grpc_serving(state: ServiceState, endpoint: GrpcEndpoint) -> AsyncIterator[ReadinessHealth]:
    """The server for the block; on exit it stops taking calls and gives those in flight `drain_timeout_s`."""
    options = [("grpc.max_receive_message_length", state.limits.upload.max_bytes), ("grpc.so_reuseport", 0)]
    server = grpc.aio.server(options=options)
    server.add_generic_rpc_handlers([handlers(InferenceService(state, ApiKeys(endpoint.api_keys)))])
    health = ReadinessHealth(state)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port(f"{endpoint.host}:{endpoint.port}")
    await server.start()
    await health.refresh()
    log.info("gRPC (Open Inference Protocol) listening on %s:%d", endpoint.host, port)
    try:
        yield health
    finally:
        await health.enter_graceful_shutdown()
        await server.stop(state.limits.drain_timeout_s)
