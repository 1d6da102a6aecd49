"""The Open Inference Protocol (KServe v2) over REST, under `/v2`, for the served model.

Health, server and model metadata and readiness, and `infer`, which takes the same in-flight slot, body
limits, deadline and disconnect handling as `/predict` and runs through the same engine. Errors answer in the
protocol's own shape, `{"error": "<message>"}` (`router/errors.py` picks it for every path under `/v2`).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from motivnet_serve.router.deps import EngineDep, StateDep
from motivnet_serve.router.disconnect import unless_disconnected
from motivnet_serve.router.oip.inference import (
    EXTENSIONS,
    SERVER_NAME,
    SERVER_VERSION,
    check_model,
    infer,
    model_metadata,
)
from motivnet_serve.router.oip.rest_codec import HEADER_LENGTH, parse_request, render
from motivnet_serve.router.uploads import limited_body

router = APIRouter(prefix="/v2", tags=["open inference protocol"])


@router.get("/health/live")
async def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready")
async def ready(state: StateDep) -> JSONResponse:
    """200 once the model is loaded and warm, as `/health/ready`; 503 while loading or draining."""
    is_ready = state.not_ready_reason is None
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


@router.get("")
async def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": EXTENSIONS}


@router.get("/models/{name}")
@router.get("/models/{name}/versions/{version}")
async def metadata(engine: EngineDep, name: str, version: str = "") -> dict[str, Any]:
    description = engine.describe()
    check_model(description, name, version)
    return model_metadata(description)


@router.get("/models/{name}/ready")
@router.get("/models/{name}/versions/{version}/ready")
async def model_ready(engine: EngineDep, name: str, version: str = "") -> dict[str, Any]:
    check_model(engine.describe(), name, version)
    return {"name": name, "ready": engine.accepting}


@router.post("/models/{name}/infer")
@router.post("/models/{name}/versions/{version}/infer")
async def infer_route(request: Request, engine: EngineDep, state: StateDep, name: str, version: str = "") -> Response:
    """JSON tensors, or a JSON header then binary tensor data (`Inference-Header-Content-Length`)."""
    limits = state.limits
    deadline = time.monotonic() + limits.request_timeout_s
    async with engine.admit(deadline):
        upload = limits.upload
        body = b"".join([c async for c in limited_body(request, upload.max_bytes, deadline, upload.pause_timeout_s)])
        rest = parse_request(body, request.headers.get(HEADER_LENGTH), name, version)
        outputs = await unless_disconnected(request, infer(engine, limits.max_files, rest.request, deadline))
    return render(rest, outputs)
