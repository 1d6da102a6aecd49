"""GET /v1/models: what is served, where, and how it is batched."""

from __future__ import annotations

from fastapi import APIRouter

from motivnet_serve.router.deps import EngineDep
from motivnet_serve.router.schemas import ModelList, error_responses

router = APIRouter(tags=["operations"])


@router.get("/v1/models", response_model=ModelList, responses=error_responses(401, 403, 503))
async def list_models(engine: EngineDep) -> ModelList:
    """The loaded model: name, labels, architecture, size, device, dtype, checkpoint and batching settings."""
    return ModelList(models=[engine.describe()])
