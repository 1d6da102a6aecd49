"""Cross-origin requests from origins not on the allow-list are refused before they run anything.

CORS alone does not stop a browser from sending a "simple" cross-origin request (a multipart POST needs no
preflight): it only hides the answer, after the model has run. So a request whose `Origin` is neither this
server's own nor allowed gets 403 here. Clients that are not browsers send no `Origin` and pass.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from motivnet_serve.router.errors import error_response


class OriginGuardMiddleware:
    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = set(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._permitted(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})
            return
        message = "requests from this origin are not allowed: add it to cors_allow_origins on the server"
        await error_response(403, "origin_not_allowed", message)(scope, receive, send)

    def _permitted(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers", ()))
        origin = headers.get(b"origin", b"").decode("latin-1")
        if not origin or "*" in self.allowed or origin in self.allowed:
            return True
        host = headers.get(b"host", b"").decode("latin-1")
        return bool(origin.split("://", 1)[-1] == host)
