"""How many live sessions are open: `max_streams` at most, each counted in `motivnet_streams_active`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from motivnet_serve.router.state import ServiceState


@asynccontextmanager
async def stream_slot(state: ServiceState) -> AsyncIterator[bool]:
    """Yields whether the session was admitted; while it is, it holds one of the app's slots."""
    if state.open_streams >= state.settings.max_streams:
        yield False
        return
    state.open_streams += 1
    state.metrics.streams_active.inc()
    try:
        yield True
    finally:
        state.open_streams -= 1
        state.metrics.streams_active.dec()
