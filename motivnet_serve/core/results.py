"""What the engine answers, as pydantic models: the same types build the HTTP documents and the OpenAPI
schema, so the two cannot drift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from motivnet_serve.backends.emotion.predictor import ModelInfo
from motivnet_serve.backends.faces.face import Face


class FacePrediction(BaseModel):
    """One face: where it is (null for a whole image), its most probable emotion and every probability."""

    box: list[float] | None = Field(
        None, description="[x1, y1, x2, y2] in image pixels, within the image; null when the whole image was used."
    )
    score: float | None = Field(None, description="Detector confidence; null when the whole image was used.")
    landmarks: dict[str, list[float]] | None = Field(
        None,
        description="right_eye, left_eye, nose, mouth_right, mouth_left as [x, y], named from the subject's side; "
        "null when the whole image was used.",
    )
    label: str = Field(description="The most probable emotion.")
    probabilities: dict[str, float] = Field(description="Every emotion's probability, in the model's label order.")

    @classmethod
    def of(cls, face: Face, labels: Sequence[str], row: Sequence[float]) -> FacePrediction:
        return cls(**face.as_dict(), **labelled(labels, row))


def labelled(labels: Sequence[str], row: Sequence[float]) -> dict[str, Any]:
    """`label` (the most probable; the first of a tie) and every probability by name: a face's answer, or a
    track's mean over its frames."""
    best = max(range(len(row)), key=row.__getitem__)
    return {"label": labels[best], "probabilities": dict(zip(labels, row))}


class BatchingInfo(BaseModel):
    max_batch_size: int
    max_batch_delay_ms: float
    max_queue_size: int
    request_timeout_ms: float


class ModelDescription(ModelInfo):
    """`/v1/models` entry: the loaded model, plus the detector in front of it and how it is batched."""

    detector: str
    batching: BatchingInfo
