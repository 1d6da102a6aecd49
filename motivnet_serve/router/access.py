"""Optional API keys, as an ASGI middleware, for plain HTTP and WebSocket connections alike.

With `api_keys` set, a request needs `Authorization: Bearer <key>`; a WebSocket may instead name the key in
the query parameter `access_token`, because browsers cannot set headers on WebSockets. Keys are compared in
constant time, and every key is compared, so timing tells nothing about which or how much matched. Health
checks (the Open Inference Protocol's under `/v2/health/` too), the web page with its static files and the
API documentation stay open; `/metrics` too unless `metrics_public` is off. The gRPC server checks the same
keys (`ApiKeys`) in its `authorization` metadata.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from motivnet_serve.core.errors import UnauthorizedError
from motivnet_serve.router.errors import error_response

OPEN_PREFIXES = ("/health/", "/static/", "/v2/health/")
OPEN_PATHS = frozenset({"/", "/favicon.ico", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def _digest(key: str) -> bytes:
    """Fixed-length digests, so comparing them does not reveal a key's length."""
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    """The configured keys, as digests; empty: every caller is allowed."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.digests = [_digest(key) for key in keys]

    def allow(self, authorization: str) -> bool:
        """Whether an `Authorization` value (`Bearer <key>`) names a configured key."""
        if not self.digests:
            return True
        scheme, _, token = authorization.partition(" ")
        offered = _digest(token.strip() if scheme.lower() == "bearer" else "")
        matches = [hmac.compare_digest(offered, digest) for digest in self.digests]
        return any(matches)


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: tuple[str, ...], metrics_public: bool) -> None:
        self.app = app
        self.keys = ApiKeys(keys)
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
        response = error_response(error.status, error.code, error.message, error.headers, path=scope["path"])
        await response(scope, receive, send)

    def _open(self, path: str) -> bool:
        return not self.keys.digests or path in self.open_paths or path.startswith(OPEN_PREFIXES)

    def _allowed(self, scope: Scope) -> bool:
        return self.keys.allow(_authorization(scope))


def _authorization(scope: Scope) -> str:
    """The `Authorization` header; for a WebSocket without one, its `access_token` as a bearer token."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return str(value.decode("latin-1"))
    if scope["type"] == "websocket":
        tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("access_token", [""])
        return f"Bearer {tokens[0]}"
    return ""
