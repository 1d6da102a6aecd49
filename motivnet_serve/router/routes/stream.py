"""WS /v1/stream: a live camera session, one binary message per encoded frame, one text reply per frame."""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import ExitStack

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from motivnet_serve.core.engine import Engine
from motivnet_serve.core.errors import ServiceError
from motivnet_serve.pipelines.live import LiveSession, StreamConfig
from motivnet_serve.router.state import ServiceState

log = logging.getLogger(__name__)
router = APIRouter(tags=["video"])

TRY_AGAIN_LATER = 1013
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
STOPPED = "the session could not go on; the server logged it"


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket) -> None:
    """Send an optional `{"config": {...}}` text message, then frames as binary messages (the formats photos
    take: JPEG, PNG, WebP, BMP, GIF, TIFF, HEIC/HEIF, AVIF); each gets one reply, in order: faces with track
    ids, an error, or `skipped` when a newer frame overtook it."""
    state: ServiceState = websocket.app.state.service
    await websocket.accept()
    with ExitStack() as admitted:
        try:
            engine = state.require_engine()
            admitted.enter_context(engine.session("stream"))
        except ServiceError as exc:
            await websocket.close(TRY_AGAIN_LATER, exc.message)
            return
        await _session(websocket, engine, state)


async def _session(websocket: WebSocket, engine: Engine, state: ServiceState) -> None:
    limits = state.limits
    session: LiveSession | None = None
    sender: asyncio.Task[None] | None = None
    try:
        while True:
            message = await asyncio.wait_for(websocket.receive(), limits.stream_idle_timeout_s)
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is None:
                if session is not None:
                    await websocket.close(POLICY_VIOLATION, "a config message may only come before the first frame")
                    return
                session = LiveSession(engine, _config(message.get("text") or ""), limits.stream, state.metrics)
                continue
            if session is None:
                session = LiveSession(engine, StreamConfig(), limits.stream, state.metrics)
            if sender is None:
                sender = asyncio.create_task(_send_replies(websocket, session))
            session.add(message["bytes"])
    except asyncio.TimeoutError:
        await websocket.close(1000, f"idle for {limits.stream_idle_timeout_s:g} s")
    except (ValueError, ValidationError) as exc:
        await websocket.close(POLICY_VIOLATION, f"bad config message: {exc}"[:120])
    except WebSocketDisconnect:
        return
    except Exception as exc:
        if session is not None:
            session.failed(exc)
        else:
            log.error("live session failed before its first frame", exc_info=exc)
            state.metrics.frame_failed("stream", "stopped")
        await websocket.close(INTERNAL_ERROR, STOPPED)
    finally:
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        if session is not None:
            await session.close()


async def _send_replies(websocket: WebSocket, session: LiveSession) -> None:
    """Sends each reply as it is ready; if the replies themselves fail, closes with 1011 (a send that fails
    because the client left is no failure of ours and ends this quietly)."""
    replies = session.replies()
    while True:
        try:
            reply = await anext(replies)
        except Exception as exc:  # noqa: BLE001 - the client hears of it as a close, never as a silence
            session.failed(exc)
            await websocket.close(INTERNAL_ERROR, STOPPED)
            return
        await websocket.send_text(json.dumps(reply, separators=(",", ":")))


def _config(text: str) -> StreamConfig:
    """`{"config": {...}}`; anything else is refused (ValueError) and the session closes with 1008."""
    document = json.loads(text)
    if not isinstance(document, dict) or set(document) != {"config"}:
        raise ValueError('expected {"config": {"detect": ..., "max_faces": ..., "smoothing": ...}}')
    return StreamConfig.model_validate(document["config"])
