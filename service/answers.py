"""From uploaded bytes to the `/predict` answer: decode off the event loop, queue the faces, label them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import torch

from service.config import Settings
from service.engine import Engine
from service.errors import ServiceError
from service.images import Upload, decode_image


async def _decode(upload: Upload, max_pixels: int) -> torch.Tensor:
    try:
        return await asyncio.to_thread(decode_image, upload.data, max_pixels)
    except ServiceError as exc:
        name = f"{upload.filename!r}" if upload.filename else "the body"
        raise type(exc)(f"{name}: {exc.message}", exc.headers) from None


def face_entry(labels: tuple[str, ...], row: torch.Tensor, box: list[float] | None, score: float | None) -> dict[str, Any]:
    values = row.tolist()
    best = max(range(len(values)), key=values.__getitem__)
    return {"box": box, "score": score, "label": labels[best], "probabilities": dict(zip(labels, values))}


async def answer_uploads(engine: Engine, uploads: list[Upload], settings: Settings) -> dict[str, Any]:
    """Every image is one face (the whole image) for now; results keep upload order."""
    deadline = time.monotonic() + settings.request_timeout_ms / 1000
    images = await asyncio.gather(*(_decode(upload, settings.max_image_pixels) for upload in uploads))
    rows = await engine.batcher.submit(list(images), deadline)
    info = engine.predictor.info
    results = [
        {"filename": upload.filename, "faces": [face_entry(info.labels, row, None, None)]}
        for upload, row in zip(uploads, rows)
    ]
    return {"model": info.name, "results": results}
