"""Response shapes, for the OpenAPI document; routes return plain JSON of the same shape."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FacePrediction(BaseModel):
    box: list[float] | None = Field(
        None, description="[x1, y1, x2, y2] in image pixels; null when the whole image was used."
    )
    score: float | None = Field(None, description="Detector confidence; null when the whole image was used.")
    landmarks: dict[str, list[float]] | None = Field(
        None,
        description="right_eye, left_eye, nose, mouth_right, mouth_left as [x, y], named from the subject's side; "
        "null when the whole image was used.",
    )
    label: str = Field(description="The most probable emotion.")
    probabilities: dict[str, float] = Field(description="Every emotion's probability, in the model's label order.")


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


class BatchingInfo(BaseModel):
    max_batch_size: int
    max_batch_delay_ms: float
    max_queue_size: int
    request_timeout_ms: float


class ModelDescription(BaseModel):
    name: str
    family: str
    labels: list[str]
    architecture: dict
    parameters: int
    device: str
    dtype: str
    checkpoint: str
    checkpoint_sha256: str
    detector: str
    batching: BatchingInfo


class ModelList(BaseModel):
    models: list[ModelDescription]
