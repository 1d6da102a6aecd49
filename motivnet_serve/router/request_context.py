"""Every request's id and span: `x-request-id` on each answer (HTTP, video, the WebSocket handshake), the id in
each log line written while it runs, and the request's server span (continuing the caller's `traceparent`).

The caller's own `x-request-id` is kept when it is sane (at most 128 visible ASCII characters), so one id
follows a request from the load balancer through this service's logs; otherwise a new one is made.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from motivnet_serve.core import tracing
from motivnet_serve.core.metrics import ENDPOINTS

HEADER = b"x-request-id"
UNTRACED = frozenset({"/health/live", "/health/ready", "/metrics"})
"""Probes and scrapes, every few seconds from every replica: an id each, but no trace that would bury the
requests' ones."""
_SANE = re.compile(rb"[\x21-\x7e]{1,128}")

request_id: ContextVar[str | None] = ContextVar("motivnet_request_id", default=None)
"""The id of the request being served on this task (None outside a request): the JSON log lines read it."""


def choose_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's id when given and sane, else a fresh random one (32 hex digits)."""
    for key, value in headers:
        if key == HEADER and _SANE.fullmatch(value):
            return value.decode("ascii")
    return secrets.token_hex(16)


def span_name(scope: Scope) -> str:
    """`POST /predict`, `WS /v1/stream`: the path only when it is one of ours, so names stay a bounded set."""
    path = scope["path"] if scope["path"] in ENDPOINTS or scope["path"] == "/v1/stream" else "other"
    return f"{scope.get('method', 'WS')} {path}"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        chosen = choose_id(scope["headers"])
        token = request_id.set(chosen)
        try:
            if scope["path"] in UNTRACED:
                await self.app(scope, receive, _with_id(send, chosen, None))
                return
            attributes = {"url.path": scope["path"], "motivnet.request_id": chosen}
            with tracing.server(span_name(scope), scope["headers"], **attributes) as span:
                await self.app(scope, receive, _with_id(send, chosen, span))
        finally:
            request_id.reset(token)


def _with_id(send: Send, chosen: str, span: tracing.ServerSpan | None) -> Send:
    """`send` that adds the id to the answer's head (the handshake's, on a WebSocket) and its status to `span`."""
    header = (HEADER, chosen.encode("ascii"))

    async def with_id(message: Message) -> None:
        if message["type"] in ("http.response.start", "websocket.accept"):
            message["headers"] = [*message.get("headers", []), header]
        if span is not None and message["type"] == "http.response.start":
            span.set("http.response.status_code", message["status"])
        await send(message)

    return with_id
