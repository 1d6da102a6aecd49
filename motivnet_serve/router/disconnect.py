"""Cancel a request's work when its client goes away, so its queued faces never reach the model."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

from motivnet_serve.core.errors import ClientClosedError

T = TypeVar("T")


async def _disconnected(request: Request) -> None:
    """Returns once the server reports the client gone; the body has already been read."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    raise ClientClosedError("client disconnected before the answer was ready")
