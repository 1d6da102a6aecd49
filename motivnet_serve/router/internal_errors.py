"""An unexpected exception becomes one log line and a JSON 500, and goes no further.

Starlette's outer error middleware re-raises whatever it handled, so uvicorn would log the same traceback a
second time (12 KB a failure); this middleware sits inside it and stops the exception here. The line names
the exception and where it was raised; the full traceback is logged at debug level.
"""

from __future__ import annotations

import logging
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from motivnet_serve.router.errors import error_response

log = logging.getLogger(__name__)


class InternalErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error("internal error on %s %s: %s", scope["method"], scope["path"], _where(exc), exc_info=_debugging())
            if not started:
                await error_response(500, "internal", "internal error; the server logged it")(scope, receive, send)


def _where(exc: Exception) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}" if frame else ""
    return f"{type(exc).__name__}: {exc}{place}"


def _debugging() -> bool:
    return log.isEnabledFor(logging.DEBUG)
