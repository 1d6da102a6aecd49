"""Liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from motivnet_serve.core.errors import NotReadyError
from motivnet_serve.router.deps import StateDep

router = APIRouter(tags=["operations"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    """200 while the process is up; restart it only when this fails."""
    return {"status": "alive"}


@router.get("/health/ready", responses={503: {"description": "Loading, warming up, broken or draining."}})
async def ready(state: StateDep) -> dict[str, str]:
    """200 only when the model is loaded and warm, its worker alive, and the server not draining."""
    reason = state.not_ready_reason
    if reason is not None:
        raise NotReadyError(reason)
    return {"status": "ready"}


@router.get("/metrics", response_class=Response, responses={401: {"description": "Without metrics_public, a key."}})
async def metrics(state: StateDep) -> Response:
    """Prometheus text format."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
