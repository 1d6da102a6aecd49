"""The model behind the queue: faces in, probabilities out, one batch at a time on the worker thread.

One bad face must not fail its batch: if the batch cannot be preprocessed, faces are preprocessed one by
one to find the culprit; a row of non-finite probabilities fails that face alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

from service.batching import DynamicBatcher
from service.config import Settings
from service.errors import InferenceError
from service.faces.finder import FaceFinder, FoundFace, whole_images
from service.metrics import Metrics
from service.predictor import Predictor

log = logging.getLogger(__name__)


def warmup_sizes(max_batch_size: int) -> list[int]:
    """Powers of two up to the largest batch, and the largest batch itself."""
    sizes, size = [], 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    return [*sizes, max_batch_size]


class Engine:
    """Owns the face finder (on its own thread), the predictor and the predictor's batcher.

    Detection of the next requests runs while the current batch is in the model, on a different thread.
    """

    def __init__(self, predictor: Predictor, finder: FaceFinder, settings: Settings, metrics: Metrics) -> None:
        self.predictor = predictor
        self.finder = finder
        self.metrics = metrics
        self.detect_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect")
        self.batcher = DynamicBatcher(
            self.process,
            max_batch_size=settings.max_batch_size,
            max_batch_delay_s=settings.max_batch_delay_ms / 1000,
            max_queue_size=settings.max_queue_size,
            observer=metrics,
            wait_only_for_incoming=True,
        )

    async def find_faces(self, images: list[torch.Tensor], detect: bool) -> list[list[FoundFace]]:
        if not detect:
            return whole_images(images)
        return await asyncio.get_running_loop().run_in_executor(self.detect_thread, self.finder.find, images)

    async def stop(self) -> None:
        await self.batcher.stop()
        self.detect_thread.shutdown(wait=True)

    def process(self, faces: Sequence[torch.Tensor]) -> list[torch.Tensor | Exception]:
        """Runs on the worker thread; returns one probability row or one exception per face."""
        batch, failures = self._preprocess(faces)
        if batch is None:
            return failures
        probabilities = self.predictor.predict(batch)
        rows = zip(probabilities, torch.isfinite(probabilities).all(dim=1).tolist())
        results: list[torch.Tensor | Exception] = []
        for failure in failures:
            if failure is not None:
                results.append(failure)
                continue
            row, finite = next(rows)
            results.append(
                row if finite else InferenceError("the model produced non-finite probabilities for this face")
            )
        return results

    def _preprocess(self, faces: Sequence[torch.Tensor]) -> tuple[torch.Tensor | None, list]:
        """The batch of good faces, and per face None (good) or its exception."""
        try:
            return self.predictor.preprocess(faces), [None] * len(faces)
        except Exception:  # isolate the failing face below
            log.warning("batch preprocessing failed; retrying face by face", exc_info=True)
        good, failures = [], []
        for face in faces:
            try:
                good.append(self.predictor.preprocess([face]))
                failures.append(None)
            except Exception as exc:  # noqa: BLE001 - the client's face, not the server, is at fault
                failures.append(InferenceError(f"this image could not be prepared for the model: {exc}"))
        return (torch.cat(good) if good else None), failures

    def warmup(self, sizes: list[int]) -> float:
        """A detection and a forward at each batch size, so the first requests meet warm kernels and allocator."""
        start = time.perf_counter()
        self.finder.warmup()
        face = torch.full((480, 640, 3), 128, dtype=torch.uint8)
        for size in sizes:
            self.predictor.predict(self.predictor.preprocess([face] * size))
        return time.perf_counter() - start
