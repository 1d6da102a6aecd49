"""POST /v1/video: a recorded video in, one answer line per sampled frame out while it is analysed."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from motivnet_serve.pipelines.analysis import VideoOptions
from motivnet_serve.router.deps import EngineDep, StateDep
from motivnet_serve.router.disconnect import unless_disconnected
from motivnet_serve.router.schemas import error_responses
from motivnet_serve.router.video_lines import Line, one_document, video_lines, with_error_line

router = APIRouter(tags=["video"])

NDJSON = "application/x-ndjson"
ERRORS = error_responses(400, 401, 403, 408, 413, 415, 422, 503, 504)
VIDEO_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "video/*": {"schema": {"type": "string", "format": "binary"}},
        },
        "required": True,
    },
    "responses": {"200": {"content": {NDJSON: {"schema": {"type": "string"}}}}},
}


@router.post("/v1/video", responses=ERRORS, openapi_extra=VIDEO_BODY)
async def video(
    request: Request,
    engine: EngineDep,
    state: StateDep,
    fps: Annotated[float, Query(ge=0, le=240, description="Frames sampled per second of video; 0: every frame.")] = 5,
    detect: Annotated[bool, Query(description="Find faces first; false treats each frame as one face.")] = True,
    max_faces: Annotated[int | None, Query(ge=1, description="Most faces per frame, best first.")] = None,
    smoothing: Annotated[float, Query(ge=0, lt=1, description="Weight of a track's past answers.")] = 0.0,
) -> Response:
    """Every face of a video's sampled frames with its track id and emotion, as NDJSON lines while the video is
    analysed, then a summary line per track (`Accept: application/json`: one document at the end)."""
    options = VideoOptions(fps=fps, detect=detect, max_faces=max_faces, smoothing=smoothing)
    lines = await video_lines(request, engine, state.limits.video, state.metrics, options)
    if "application/json" in request.headers.get("accept", "") and NDJSON not in request.headers.get("accept", ""):
        return JSONResponse(await unless_disconnected(request, one_document(lines)))
    return ClosingStreamingResponse(_ndjson(with_error_line(lines)))


class ClosingStreamingResponse(StreamingResponse):
    """Closes its body when the response ends however it ends (finished, failed, client gone), so the video's
    file, decoder thread and queued frames are released then, not whenever the garbage collector gets to it."""

    def __init__(self, lines: AsyncGenerator[bytes, None]) -> None:
        super().__init__(lines, media_type=NDJSON)
        self._lines = lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._lines.aclose()


async def _ndjson(lines: AsyncGenerator[Line, None]) -> AsyncGenerator[bytes, None]:
    async with aclosing(lines):
        async for line in lines:
            yield (json.dumps(line, separators=(",", ":")) + "\n").encode()
