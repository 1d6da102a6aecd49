"""The core between the HTTP layer (and the CLI) and the model: one `Engine` with a few verbs.

`start` loads and warms the model and starts its batcher; `classify` turns images into labelled faces;
`describe` says what is served; `accepting` says whether work is taken; `drain` finishes queued work and
stops. The batcher, the face finder, the predictor and the metrics are the engine's own parts: nothing
outside this module reaches them, so batch limits, failure isolation and fairness hold on every path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from service.batch_step import BatchStep, warmup_sizes
from service.batching import DynamicBatcher, Timing
from service.config import Settings
from service.errors import ServiceError
from service.faces.finder import FaceFinder, FoundFace, whole_images
from service.images import Upload, decode_image
from service.loading import acceleration_of, build_finder, load_predictor
from service.metrics import Metrics
from service.model.predictor import Predictor
from service.results import BatchingInfo, FacePrediction, ModelDescription

log = logging.getLogger(__name__)

ImageInput = Upload | torch.Tensor
"""An image as sent (bytes, decoded by the engine off the event loop) or already decoded (HxWx3 uint8 RGB)."""


@dataclass(frozen=True)
class Classified:
    """One request's answer: per image its faces, and where the request's time went (seconds)."""

    model: str
    images: list[list[FacePrediction]]
    detection_s: float
    queue_s: float
    inference_s: float
    total_s: float


class Engine:
    """Owns the face finder (on its own thread), the predictor and the predictor's batcher.

    Detection of the next requests runs while the current batch is in the model, on a different thread.
    """

    def __init__(self, predictor: Predictor, finder: FaceFinder, settings: Settings, metrics: Metrics) -> None:
        self._predictor = predictor
        self._finder = finder
        self._settings = settings
        self._metrics = metrics
        self._step = BatchStep(predictor)
        self._detect_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect")
        self._batcher = DynamicBatcher(
            self._step,
            max_batch_size=settings.max_batch_size,
            max_batch_delay_s=settings.max_batch_delay_ms / 1000,
            max_queue_size=settings.max_queue_size,
            observer=metrics,
            wait_only_for_incoming=True,
        )
        metrics.watch_device(torch.device(predictor.info.device))

    @classmethod
    async def start(cls, settings: Settings, metrics: Metrics, *, warm: bool) -> Engine:
        """Loads the model and its detector off the event loop, warms both when asked, starts the batcher."""
        started = time.perf_counter()
        predictor = await asyncio.to_thread(
            load_predictor,
            settings.model_dir,
            settings.model_store,
            settings.device,
            settings.dtype,
            acceleration_of(settings),
        )
        device = torch.device(predictor.info.device)
        finder = await asyncio.to_thread(build_finder, settings, device, predictor.info.architecture["input_hw"])
        engine = cls(predictor, finder, settings, metrics)
        if warm:
            await asyncio.to_thread(engine._warmup)
        await engine._batcher.start()
        metrics.model_load_seconds.set(time.perf_counter() - started)
        return engine

    @property
    def accepting(self) -> bool:
        """False once draining, or if the batch worker died (readiness reports it)."""
        return self._batcher.accepting

    def describe(self) -> ModelDescription:
        batching = BatchingInfo(
            max_batch_size=self._settings.max_batch_size,
            max_batch_delay_ms=self._settings.max_batch_delay_ms,
            max_queue_size=self._settings.max_queue_size,
            request_timeout_ms=self._settings.request_timeout_ms,
        )
        return ModelDescription(
            **self._predictor.info.model_dump(), detector=self._finder.detector.name, batching=batching
        )

    async def classify(
        self,
        images: Sequence[ImageInput],
        *,
        detect: bool,
        deadline: float,
        max_faces: int | None = None,
        group: Hashable | None = None,
    ) -> Classified:
        """Every face of every image, labelled; results keep image order, an image without faces has none.

        `deadline` is a `time.monotonic()` value: faces still queued then fail with 504. `max_faces` keeps only
        each image's best-scoring faces, before any reaches the model (a video asks for its few subjects). The
        model serves waiting requests in turns; calls that pass the same `group` (a video's frames) share one.
        """
        start = time.monotonic()
        timing = Timing()
        with self._batcher.incoming() as arrival:
            pixels = await asyncio.gather(*(self._decode(image) for image in images))
            detect_start = time.monotonic()
            found = [faces[:max_faces] for faces in await self._find_faces(list(pixels), detect)]
            detection_s = time.monotonic() - detect_start if detect else 0.0
            if detect:
                self._metrics.detection_seconds.observe(detection_s)
            crops = [crop for faces in found for _, crop in faces]
            rows = await arrival.submit(crops, deadline, timing, group)
        return Classified(
            model=self._predictor.info.name,
            images=self._label(found, rows),
            detection_s=detection_s,
            queue_s=timing.queue_s,
            inference_s=timing.inference_s,
            total_s=time.monotonic() - start,
        )

    async def drain(self) -> None:
        """Refuses new work, answers every queued face, then releases the worker threads."""
        await self._batcher.stop()
        self._detect_thread.shutdown(wait=True)

    async def _decode(self, image: ImageInput) -> torch.Tensor:
        if isinstance(image, torch.Tensor):
            return image
        try:
            return await asyncio.to_thread(decode_image, image.data, self._settings.max_image_pixels)
        except ServiceError as exc:
            name = f"{image.filename!r}" if image.filename else "the body"
            raise type(exc)(f"{name}: {exc.message}", exc.headers) from None

    async def _find_faces(self, images: list[torch.Tensor], detect: bool) -> list[list[FoundFace]]:
        if not detect:
            return whole_images(images)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._detect_thread, self._finder.find, images)

    def _label(self, found: list[list[FoundFace]], rows: list[torch.Tensor]) -> list[list[FacePrediction]]:
        """Per image, its faces' answers; `rows` holds one probability row per face, in `found` order."""
        labels = self._predictor.info.labels
        row_iter = iter(rows)
        return [[FacePrediction.of(face, labels, next(row_iter).tolist()) for face, _ in faces] for faces in found]

    def _warmup(self) -> None:
        """A detection and a forward at each batch size before the first request meets them."""
        self._finder.warmup()
        seconds = self._step.warmup(warmup_sizes(self._settings.max_batch_size))
        log.info("warmed up in %.1f s", seconds)
