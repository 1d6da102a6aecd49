"""From uploaded bytes to the `/predict` answer: decode off the event loop, find the faces, queue their crops
for the emotion model together with everyone else's, and label them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from service.batching import Timing
from service.config import Settings
from service.engine import Engine
from service.errors import ServiceError
from service.faces.face import Face
from service.faces.finder import FoundFace
from service.images import Upload, decode_image


async def _decode(upload: Upload, max_pixels: int) -> torch.Tensor:
    try:
        return await asyncio.to_thread(decode_image, upload.data, max_pixels)
    except ServiceError as exc:
        name = f"{upload.filename!r}" if upload.filename else "the body"
        raise type(exc)(f"{name}: {exc.message}", exc.headers) from None


def face_entry(labels: tuple[str, ...], face: Face, row: torch.Tensor) -> dict[str, Any]:
    """One face of the answer: where it is (null for a whole image), its label and every probability."""
    values = row.tolist()
    best = max(range(len(values)), key=values.__getitem__)
    return {**face.as_dict(), "label": labels[best], "probabilities": dict(zip(labels, values))}


def label_found(
    labels: tuple[str, ...], found: list[list[FoundFace]], rows: Iterable[torch.Tensor]
) -> list[list[dict[str, Any]]]:
    """Per image, its faces' answers; `rows` holds one probability row per face, in `found` order."""
    row_iter = iter(rows)
    return [[face_entry(labels, face, next(row_iter)) for face, _ in faces] for faces in found]


@dataclass
class Answer:
    """The `/predict` document and where its time went (sent back as `x-*-time` headers, in ms)."""

    document: dict[str, Any]
    detection_s: float = 0.0
    timing: Timing = field(default_factory=Timing)
    total_s: float = 0.0

    def headers(self) -> dict[str, str]:
        times = {
            "x-detection-time": self.detection_s,
            "x-queue-time": self.timing.queue_s,
            "x-inference-time": self.timing.inference_s,
            "x-total-time": self.total_s,
        }
        return {name: f"{seconds * 1000:.2f}" for name, seconds in times.items()}


async def answer_uploads(engine: Engine, uploads: list[Upload], detect: bool, settings: Settings) -> Answer:
    """Results keep upload order; an image without faces answers `"faces": []`."""
    start = time.monotonic()
    deadline = start + settings.request_timeout_ms / 1000
    answer = Answer({"model": engine.predictor.info.name})
    with engine.batcher.incoming() as arrival:
        images = await asyncio.gather(*(_decode(upload, settings.max_image_pixels) for upload in uploads))
        detect_start = time.monotonic()
        found = await engine.find_faces(list(images), detect)
        if detect:
            answer.detection_s = time.monotonic() - detect_start
            engine.metrics.detection_seconds.observe(answer.detection_s)
        crops = [crop for faces in found for _, crop in faces]
        rows = await arrival.submit(crops, deadline, answer.timing)
    faces = label_found(engine.predictor.info.labels, found, rows)
    answer.document["results"] = [
        {"filename": upload.filename, "faces": image_faces} for upload, image_faces in zip(uploads, faces)
    ]
    answer.total_s = time.monotonic() - start
    return answer
