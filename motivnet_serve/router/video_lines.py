"""From an uploaded video to its answer lines, with the first line in hand before the response starts.

Computing the first line before answering is what lets every failure up to it (upload, container, limits,
the first frame) be a plain JSON error with its status; after it, the status is sent, and a failure becomes
the last line. The temporary file, the decoder and the frames in the engine are released however the
answer ends: finished, failed, or its client gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from motivnet_serve.core import tracing
from motivnet_serve.core.engine import Engine
from motivnet_serve.core.errors import ServiceError
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.pipelines.analysis import Pacing, VideoAnalysis, VideoOptions
from motivnet_serve.pipelines.decode import VideoLimits, VideoReader
from motivnet_serve.router.uploads import BodyLimits
from motivnet_serve.router.video_upload import spooled_video

log = logging.getLogger(__name__)

Line = dict[str, Any]


@dataclass(frozen=True)
class VideoRules:
    """What bounds one /v1/video request: its upload, the video it may be, how hard it may lean on the engine."""

    upload: BodyLimits
    video: VideoLimits
    pacing: Pacing


async def video_lines(
    request: Request, engine: Engine, rules: VideoRules, metrics: Metrics, options: VideoOptions
) -> AsyncGenerator[Line, None]:
    """The answer's lines; awaiting this returns once the first line is ready (or raises what stopped it)."""
    stack = AsyncExitStack()
    try:
        stack.enter_context(engine.session("video"))
        with tracing.span("upload"):
            file = await stack.enter_async_context(spooled_video(request, rules.upload, rules.video.max_seconds))
        with tracing.span("video.open"):
            reader = await asyncio.to_thread(VideoReader, file, rules.video)
        lines = VideoAnalysis(engine, reader, options, rules.pacing, metrics).lines()
        stack.push_async_callback(lines.aclose)
        first = await anext(lines)
    except BaseException:
        await stack.aclose()
        raise
    return _after(first, lines, stack)


async def _after(first: Line, lines: AsyncGenerator[Line, None], stack: AsyncExitStack) -> AsyncGenerator[Line, None]:
    async with stack:
        yield first
        async for line in lines:
            yield line


async def with_error_line(lines: AsyncGenerator[Line, None]) -> AsyncGenerator[Line, None]:
    """The lines, and instead of an exception an `{"error": ...}` last line, since the status is already sent."""
    try:
        async with aclosing(lines):
            async for line in lines:
                yield line
    except ServiceError as exc:
        yield {"error": {"code": exc.code, "message": exc.message}}
    except Exception:
        log.exception("video analysis failed")
        yield {"error": {"code": "internal", "message": "internal error; the server logged it"}}


async def one_document(lines: AsyncGenerator[Line, None]) -> dict[str, Any]:
    """The same content as one JSON document: `{"frames": [...], "summary": {...}}`, and `"error"` when the
    analysis stopped early."""
    frames: list[Line] = []
    stopped: dict[str, Any] = {}
    async with aclosing(lines):
        async for line in lines:
            if "summary" in line:
                return {"frames": frames, **stopped, "summary": line["summary"]}
            if "frame" in line:
                frames.append(line)
            else:
                stopped = {"error": line["error"]}
    raise RuntimeError("video analysis ended without its summary")
