"""What the routes share: their limits, the metrics and, once loaded and warm, the engine."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from motivnet_serve.core.engine import Engine
from motivnet_serve.core.errors import NotReadyError
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.router.limits import RouteLimits


@dataclass
class ServiceState:
    limits: RouteLimits
    metrics: Metrics
    engine: Engine | None = None
    draining: bool = False
    load_error: str | None = field(default=None)

    @property
    def not_ready_reason(self) -> str | None:
        """Why `/health/ready` must say 503, or None when the service can take work: the one readiness
        decision, which `require_engine` turns into a request's 503."""
        if self.draining:
            return "draining"
        if self.load_error:
            return "failed"
        if self.engine is None:
            return "loading"
        return None if self.engine.accepting else "worker down"

    async def drain(self, timeout_s: float) -> bool:
        """Answers the faces already queued, for at most `timeout_s`; False if work was still queued then. The
        caller sets `draining` first (a signal handler must, at once), so readiness says 503 meanwhile."""
        if self.engine is None:
            return True
        _, pending = await asyncio.wait([asyncio.ensure_future(self.engine.drain())], timeout=timeout_s)
        return not pending

    def require_engine(self) -> Engine:
        """The engine, or a 503 that tells the client why it cannot have it yet. With its worker down the
        engine is still handed out: its own refusal says so."""
        reason = self.not_ready_reason
        if reason == "draining":
            raise NotReadyError("the server is shutting down; retry on another replica")
        if reason == "failed":
            raise NotReadyError(f"model failed to load: {self.load_error}", retry_after_s=5)
        if self.engine is None:
            raise NotReadyError("model is loading; retry shortly", retry_after_s=5)
        return self.engine
