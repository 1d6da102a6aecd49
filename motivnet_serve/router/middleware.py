"""Request count and duration per endpoint, as a plain ASGI middleware (no per-request task or copy)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from motivnet_serve.core.metrics import ENDPOINTS, OIP_INFER, Metrics


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 499

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        except Exception:
            status = 500
            raise
        finally:
            self.metrics.request_done(_endpoint(scope["path"]), status, time.perf_counter() - start)


def _endpoint(path: str) -> str:
    """The path as a bounded label: an endpoint we name, the protocol's infer whatever the model, or other."""
    if path in ENDPOINTS:
        return path
    return OIP_INFER if path.startswith("/v2/models/") and path.endswith("/infer") else "other"
