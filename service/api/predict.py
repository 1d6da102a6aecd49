"""POST /predict: images in, every face with its emotion out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from service.answers import answer_uploads
from service.api.deps import EngineDep, StateDep
from service.api.disconnect import unless_disconnected
from service.api.schemas import ErrorResponse, PredictResponse
from service.api.uploads import read_uploads

router = APIRouter(tags=["inference"])

ERRORS = {status: {"model": ErrorResponse} for status in (400, 413, 415, 422, 503, 504)}
UPLOAD_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}},
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
    """Classify the emotion of every face in one or more images (multipart `file` parts or a raw image body).

    Headers `x-detection-time`, `x-queue-time`, `x-inference-time` and `x-total-time` (milliseconds) say where
    the request's time went on the server."""
    uploads = await read_uploads(request, state.settings)
    answer = await unless_disconnected(request, answer_uploads(engine, uploads, detect, state.settings))
    return JSONResponse(answer.document, headers=answer.headers())
