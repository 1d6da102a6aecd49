"""`X-Content-Type-Options: nosniff` on every answer, so a browser never runs a JSON error as a page."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class NoSniffMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]
            await send(message)

        await self.app(scope, receive, with_header)
