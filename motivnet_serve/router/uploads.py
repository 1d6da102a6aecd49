"""Reading uploaded images with the limits enforced while the body streams in, not after."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from motivnet_serve.core.errors import (
    ClientClosedError,
    NoImageError,
    ServiceError,
    TooManyFilesError,
    UnsupportedImageError,
    UploadTimeoutError,
    UploadTooLargeError,
)
from motivnet_serve.core.images import Upload

FILE_FIELD = "file"


async def limited_body(
    request: Request, max_bytes: int, deadline: float, max_pause_s: float
) -> AsyncGenerator[bytes, None]:
    """The request body, failing with 413 as soon as it grows past `max_bytes`, and with 408 when it pauses
    longer than `max_pause_s` or is not all there by `deadline` (a `time.monotonic()` value)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise UploadTooLargeError(f"request body is {declared} bytes; at most {max_bytes} allowed")
    received = 0
    chunks = request.stream().__aiter__()
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(chunks.__anext__(), min(max_pause_s, deadline - time.monotonic()))
            except StopAsyncIteration:
                return
            except asyncio.TimeoutError:
                raise UploadTimeoutError(
                    f"the body stalled after {received} bytes (at most {max_pause_s:g} s between parts, and all "
                    "of it within the request timeout); send it faster or smaller"
                ) from None
            received += len(chunk)
            if received > max_bytes:
                raise UploadTooLargeError(f"request body exceeds {max_bytes} bytes")
            yield chunk
    except ClientDisconnect:
        raise ClientClosedError("client disconnected while sending the body") from None


def media_type(request: Request) -> str:
    """The request's content type without its parameters (the multipart boundary), lower-case; '' if none."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


@asynccontextmanager
async def parsed_form(
    request: Request, body: AsyncGenerator[bytes, None], max_files: int, expected: str, too_many: str | None = None
) -> AsyncIterator[FormData]:
    """The multipart form, its spooled files closed on exit. Starlette's parser spools file parts to disk past
    1 MiB, so an upload never sits whole in memory. A malformed body is a 400 that names what was `expected`;
    more than `max_files` parts is a 413 saying `too_many`, when given (else malformed too)."""
    parser = MultiPartParser(request.headers, body, max_files=max_files, max_fields=max_files)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if too_many is not None and "Too many files" in exc.message:
            raise TooManyFilesError(too_many) from None
        raise ServiceError(f"malformed multipart body{expected}: {exc.message}") from None
    try:
        yield form
    finally:
        await form.close()


@dataclass(frozen=True)
class BodyLimits:
    """How large a request body may grow, and the longest pause while it arrives (then 408)."""

    max_bytes: int
    pause_timeout_s: float


async def read_uploads(request: Request, limits: BodyLimits, max_files: int, deadline: float) -> list[Upload]:
    """Images from a multipart form (parts named `file`) or from a raw `image/*` body, in upload order."""
    content_type = media_type(request)
    body = limited_body(request, limits.max_bytes, deadline, limits.pause_timeout_s)
    if content_type == "multipart/form-data":
        uploads = await _read_multipart(request, body, max_files)
    elif content_type.startswith("image/") or content_type == "application/octet-stream":
        uploads = [Upload(None, b"".join([chunk async for chunk in body]))]
    else:
        raise UnsupportedImageError(
            f"content type {content_type or 'missing'!r}: send multipart/form-data with 'file' parts or an image/* body"
        )
    if not uploads or not any(upload.data for upload in uploads):
        raise NoImageError("no image received: send one or more 'file' parts, or an image as the body")
    return uploads


async def _read_multipart(request: Request, body: AsyncGenerator[bytes, None], max_files: int) -> list[Upload]:
    async with parsed_form(request, body, max_files, "", f"at most {max_files} files per request") as form:
        files = [part for part in form.getlist(FILE_FIELD) if not isinstance(part, str)]
        return [Upload(part.filename, await part.read()) for part in files]
