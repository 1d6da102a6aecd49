"""Optional API keys, as an ASGI middleware, for plain HTTP and WebSocket connections alike.

With `api_keys` set, a request needs `Authorization: Bearer <key>`; a WebSocket may instead name the key in
the query parameter `access_token`, because browsers cannot set headers on WebSockets. Keys are compared in
constant time, and every key is compared, so timing tells nothing about which or how much matched. Health
checks, the web page with its static files and the API documentation stay open; `/metrics` too unless
`metrics_public` is off.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from motivnet_serve.core.errors import UnauthorizedError
from motivnet_serve.router.errors import error_response

OPEN_PREFIXES = ("/health/", "/static/")
OPEN_PATHS = frozenset({"/", "/favicon.ico", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def _digest(key: str) -> bytes:
    """Fixed-length digests, so comparing them does not reveal a key's length."""
    return hashlib.sha256(key.encode()).digest()


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: tuple[str, ...], metrics_public: bool) -> None:
        self.app = app
        self.digests = [_digest(key) for key in keys]
        self.open_paths = OPEN_PATHS | ({"/metrics"} if metrics_public else set())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._open(scope["path"]) or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await receive()  # websocket.connect; closing before accepting answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008, "reason": "missing or unknown API key"})
            return
        error = UnauthorizedError("missing or unknown API key: send the header 'Authorization: Bearer <key>'")
        await error_response(error.status, error.code, error.message, error.headers)(scope, receive, send)

    def _open(self, path: str) -> bool:
        return not self.digests or path in self.open_paths or path.startswith(OPEN_PREFIXES)

    def _allowed(self, scope: Scope) -> bool:
        offered = _digest(_offered_key(scope))
        matches = [hmac.compare_digest(offered, digest) for digest in self.digests]
        return any(matches)


def _offered_key(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    if scope["type"] == "websocket":
        tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("access_token", [""])
        return str(tokens[0])
    return ""
