"""POST /predict: images in, every face with its emotion out."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from motivnet_serve.core import tracing
from motivnet_serve.core.engine import Classified
from motivnet_serve.router.deps import EngineDep, StateDep
from motivnet_serve.router.disconnect import unless_disconnected
from motivnet_serve.router.schemas import ImageResult, PredictResponse, error_responses
from motivnet_serve.router.uploads import read_uploads

router = APIRouter(tags=["inference"])

ERRORS = error_responses(400, 401, 403, 408, 413, 415, 422, 503, 504)
TIMING_HEADERS = ("x-detection-time", "x-queue-time", "x-inference-time", "x-total-time")
UPLOAD_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1}
                    },
                    "required": ["file"],
                }
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
        "required": True,
    }
}


@router.post("/predict", response_model=PredictResponse, responses=ERRORS, openapi_extra=UPLOAD_BODY)
async def predict(
    request: Request,
    engine: EngineDep,
    state: StateDep,
    detect: Annotated[bool, Query(description="Find faces first; false treats each image as one face.")] = True,
) -> JSONResponse:
    """Classify the emotion of every face in one or more images (multipart `file` parts or a raw image body):
    JPEG, PNG, WebP, BMP, GIF (first frame), TIFF, HEIC/HEIF (primary image) or AVIF, told by their bytes.

    Headers `x-detection-time`, `x-queue-time`, `x-inference-time` and `x-total-time` (milliseconds) say where
    the request's time went on the server."""
    deadline = time.monotonic() + state.limits.request_timeout_s
    async with engine.admit(deadline):
        with tracing.span("upload"):
            uploads = await read_uploads(request, state.limits.upload, state.limits.max_files, deadline)
        classified = await unless_disconnected(request, engine.classify(uploads, detect=detect, deadline=deadline))
    results = [ImageResult(filename=u.filename, faces=faces) for u, faces in zip(uploads, classified.images)]
    document = PredictResponse(model=classified.model, results=results)
    return JSONResponse(document.model_dump(mode="json"), headers=timing_headers(classified))


def timing_headers(classified: Classified) -> dict[str, str]:
    """Where the request's time went on the server, in milliseconds, as TEI reports it."""
    times = (classified.detection_s, classified.queue_s, classified.inference_s, classified.total_s)
    return {name: f"{seconds * 1000:.2f}" for name, seconds in zip(TIMING_HEADERS, times)}
