"""Response documents: routes build their answers through these models, so the OpenAPI document and the
answers cannot drift."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from motivnet_serve.core.results import FacePrediction, ModelDescription


class ImageResult(BaseModel):
    filename: str | None = Field(description="The part's filename; null for a raw image body.")
    faces: list[FacePrediction]


class PredictResponse(BaseModel):
    model: str = Field(description="Name of the model that answered.")
    results: list[ImageResult] = Field(description="One entry per uploaded image, in upload order.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "model": "motivnet-1b",
                    "results": [
                        {
                            "filename": "face.jpg",
                            "faces": [
                                {
                                    "box": [180.4, 62.1, 262.9, 170.5],
                                    "score": 0.9991,
                                    "landmarks": {
                                        "right_eye": [203.2, 104.6],
                                        "left_eye": [240.7, 103.9],
                                        "nose": [222.5, 125.0],
                                        "mouth_right": [206.8, 146.3],
                                        "mouth_left": [236.1, 145.7],
                                    },
                                    "label": "Happiness",
                                    "probabilities": {
                                        "Neutral": 0.05,
                                        "Happiness": 0.81,
                                        "Sadness": 0.01,
                                        "Surprise": 0.08,
                                        "Fear": 0.01,
                                        "Disgust": 0.02,
                                        "Anger": 0.02,
                                    },
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    }


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route: each status it can answer, with the error document's shape."""
    return {status: {"model": ErrorResponse} for status in statuses}


class ModelList(BaseModel):
    models: list[ModelDescription]
