"""GET /v1/models: what is served, where, and how it is batched."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from service.api.deps import EngineDep, StateDep
from service.api.schemas import ModelList

router = APIRouter(tags=["operations"])


@router.get("/v1/models", response_model=ModelList)
async def list_models(engine: EngineDep, state: StateDep) -> dict:
    """The loaded model: name, labels, architecture, size, device, dtype, checkpoint and batching settings."""
    settings = state.settings
    batching = settings.model_dump(
        include={"max_batch_size", "max_batch_delay_ms", "max_queue_size", "request_timeout_ms"}
    )
    detector = engine.finder.detector.name
    return {"models": [{**asdict(engine.predictor.info), "detector": detector, "batching": batching}]}
