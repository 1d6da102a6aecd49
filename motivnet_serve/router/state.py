"""What the routes share: settings, metrics and, once loaded and warm, the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from motivnet_serve.core.engine import Engine
from motivnet_serve.core.errors import NotReadyError
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.settings import Settings


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    engine: Engine | None = None
    draining: bool = False
    load_error: str | None = field(default=None)
    open_streams: int = 0

    @property
    def not_ready_reason(self) -> str | None:
        """Why `/health/ready` must say 503, or None when the service can take work."""
        if self.draining:
            return "draining"
        if self.load_error:
            return "failed"
        if self.engine is None:
            return "loading"
        return None if self.engine.accepting else "worker down"

    def require_engine(self) -> Engine:
        """The engine, or a 503 that tells the client why it cannot have it yet."""
        if self.draining:
            raise NotReadyError("the server is shutting down; retry on another replica", {"Retry-After": "1"})
        if self.engine is None:
            reason = (
                f"model failed to load: {self.load_error}" if self.load_error else "model is loading; retry shortly"
            )
            raise NotReadyError(reason, {"Retry-After": "5"})
        return self.engine
