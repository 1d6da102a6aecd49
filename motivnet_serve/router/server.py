"""Running the app under uvicorn with a bounded graceful drain and connection limits.

On the first SIGTERM or SIGINT the service stops taking work (ready and /predict answer 503), finishes
every face already queued, and only then lets uvicorn close connections and exit. The whole drain takes at
most `drain_timeout_s`: after it, requests still open are cancelled, their connections closed, and the
process exits. A second signal exits at once: the process ends there, abandoning queued faces and open
connections, because a batch that never finishes (a hung GPU) would otherwise hold the exit forever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import time
from types import FrameType
from typing import Any

import uvicorn

from motivnet_serve.core import tracing
from motivnet_serve.core.loading import check_model_folder
from motivnet_serve.router.app import create_app
from motivnet_serve.router.connections import ConnectionLimits, guarded_protocol
from motivnet_serve.router.logs import configure_logging
from motivnet_serve.router.state import ServiceState
from motivnet_serve.settings import Settings

log = logging.getLogger(__name__)

FILE_HEADROOM = 256
"""Descriptors besides client sockets: model and weight files, the listening socket, pipes, libraries."""


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ServiceState) -> None:
        super().__init__(config)
        self.state = state
        self.loop: asyncio.AbstractEventLoop | None = None
        self.drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.state.draining:
            log.warning("signal %s during the drain: exiting now, abandoning queued work", sig)
            logging.shutdown()
            os._exit(128 + sig)
        if self.loop is None:
            super().handle_exit(sig, frame)
            return
        self.state.draining = True
        log.warning("signal %s: draining queued work before exit", sig)
        self.loop.call_soon_threadsafe(self._start_drain, sig, frame)

    def _start_drain(self, sig: int, frame: FrameType | None) -> None:
        self.drain_task = asyncio.ensure_future(self._drain(sig, frame))

    async def _drain(self, sig: int, frame: FrameType | None) -> None:
        """Queued work first, then open requests, all within `drain_timeout_s`."""
        give_up = time.monotonic() + self.state.limits.drain_timeout_s
        drained = await self.state.drain(_left(give_up))
        log.warning("queue drained; shutting down" if drained else "drain timeout: closing with work queued")
        self.config.timeout_graceful_shutdown = _left(give_up)  # type: ignore[assignment]  # uvicorn takes seconds
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn cancels requests still running at the timeout; their connections are closed here."""
        await super().shutdown(sockets)
        for connection in list(self.server_state.connections):
            connection.transport.close()
        # Here, not after `run`: uvicorn ends the process by re-raising the signal once `serve` returns.
        await asyncio.to_thread(tracing.stop)


def _left(give_up: float) -> float:
    return max(0.0, give_up - time.monotonic())


def raise_open_file_limit(needed: int) -> None:
    """Lifts the soft descriptor limit to the hard one, so `max_connections` sockets fit beside the model's
    files; warns when even the hard limit is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "open-file limit %d is below max_connections plus headroom (%d); lower max_connections", soft, needed
        )


def run_server(settings: Settings) -> None:
    """Serves until a signal ends the drain; spans still buffered are sent as the server shuts down (or here,
    when it fails before serving)."""
    log_config = configure_logging(settings)
    tracing.start(settings.otlp_endpoint)
    try:
        _serve(settings, log_config)
    finally:
        tracing.stop()


def _serve(settings: Settings, log_config: dict[str, Any] | None) -> None:
    check_model_folder(settings.model_dir, settings.model_store)
    raise_open_file_limit(settings.connections.max_connections + FILE_HEADROOM)
    app = create_app(settings)
    connections = settings.connections
    limits = ConnectionLimits(connections.max_connections, connections.header_timeout_s, connections.max_header_bytes)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=log_config,
        access_log=settings.log_format == "json",
        http=guarded_protocol(limits, app.state.service.metrics.refused),
        h11_max_incomplete_event_size=settings.connections.max_header_bytes,
        timeout_keep_alive=settings.connections.keep_alive_timeout_s,  # type: ignore[arg-type]
        timeout_graceful_shutdown=settings.connections.drain_timeout_s,  # type: ignore[arg-type]
    )
    DrainingServer(config, app.state.service).run()
