"""Running the app under uvicorn with a graceful drain.

On the first SIGTERM or SIGINT the service stops taking work (ready and /predict answer 503), finishes
every face already queued, and only then lets uvicorn close connections and exit. A second signal exits
at once: the process ends there, abandoning queued faces and open connections, because a batch that never
finishes (a hung GPU) would otherwise hold both uvicorn's shutdown and the worker thread's join forever.
"""

from __future__ import annotations

import asyncio
import logging
import os
from types import FrameType

import uvicorn

from service.app import create_app
from service.config import Settings
from service.loading import resolve_model_dir
from service.model.spec import load_model_spec
from service.state import ServiceState

log = logging.getLogger(__name__)


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
        engine = self.state.engine
        if engine is not None:
            await engine.drain()
        log.warning("queue drained; shutting down")
        super().handle_exit(sig, frame)


def check_model_folder(settings: Settings) -> None:
    """Fail before binding the port when the model folder or its checkpoint is plainly wrong."""
    spec = load_model_spec(resolve_model_dir(settings.model_dir, settings.model_store))
    if not spec.checkpoint_path.is_file():
        raise FileNotFoundError(f"checkpoint {spec.checkpoint_path} not found (see model_store/README.md)")


def run_server(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    check_model_folder(settings)
    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False)
    DrainingServer(config, app.state.service).run()
