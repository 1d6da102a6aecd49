"""A video upload spooled to a temporary file while it streams in, the size limit enforced as it grows."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import BinaryIO

from fastapi import Request
from starlette.datastructures import UploadFile

from motivnet_serve.core.errors import NoVideoError, UnsupportedVideoError
from motivnet_serve.router.uploads import FILE_FIELD, BodyLimits, limited_body, media_type, parsed_form

RAW_TYPES = ("application/octet-stream",)


@asynccontextmanager
async def spooled_video(request: Request, limits: BodyLimits, upload_s: float) -> AsyncIterator[BinaryIO]:
    """The uploaded video as a seekable file (a multipart `file` part or a raw `video/*` body), removed on exit.

    A video may take as long to upload as it may last (`upload_s`, the longest video taken); a pause longer
    than the limits' pause ends it with 408 at once."""
    content_type = media_type(request)
    deadline = time.monotonic() + upload_s
    body = limited_body(request, limits.max_bytes, deadline, limits.pause_timeout_s)
    if content_type == "multipart/form-data":
        async with _multipart_file(request, body) as file:
            yield file
    elif content_type.startswith(("video/", "image/gif")) or content_type in RAW_TYPES:
        with tempfile.TemporaryFile(prefix="motivnet-video-") as file:
            async for chunk in body:
                await asyncio.to_thread(file.write, chunk)
            file.seek(0)
            yield file
    else:
        raise UnsupportedVideoError(
            f"content type {content_type or 'missing'!r}: send multipart/form-data with a 'file' part or a video/* body"
        )


@asynccontextmanager
async def _multipart_file(request: Request, body: AsyncGenerator[bytes, None]) -> AsyncIterator[BinaryIO]:
    async with parsed_form(request, body, 1, " (one 'file' part expected)") as form:
        part = form.get(FILE_FIELD)
        if not isinstance(part, UploadFile):
            raise NoVideoError("no video received: send a 'file' part, or the video as the body")
        yield part.file
