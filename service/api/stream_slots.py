"""How many live sessions are open: `max_streams` at most, each counted in `motivnet_streams_active`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.types import ASGIApp

from service.state import ServiceState


class StreamSlots:
    """One per app (made on first use, kept on `app.state`): the open sessions of that app."""

    def __init__(self, state: ServiceState) -> None:
        self._state = state
        self._open = 0

    @classmethod
    @asynccontextmanager
    async def of(cls, app: ASGIApp, state: ServiceState) -> AsyncIterator[bool]:
        """Yields whether the session was admitted; while it is, it holds a slot."""
        slots = getattr(app.state, "stream_slots", None)
        if slots is None:
            slots = app.state.stream_slots = cls(state)
        if slots._open >= state.settings.max_streams:
            yield False
            return
        slots._open += 1
        state.metrics.streams_active.inc()
        try:
            yield True
        finally:
            slots._open -= 1
            state.metrics.streams_active.dec()
