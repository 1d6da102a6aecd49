"""The core between the HTTP layer (and the CLI) and the model: one `Engine` with a few verbs.

`start` loads and warms the model and starts its batcher; `classify` turns images into labelled faces;
`describe` says what is served; `accepting` says whether work is taken; `drain` finishes queued work and
stops. The batcher, the face finder and the predictor are the engine's own parts: nothing outside this
module reaches them, so batch limits, failure isolation and fairness hold on every path. The metrics are
not private: whoever starts the engine (the app, the CLI) makes the `Metrics` and hands it in, and the HTTP
middleware and the video and live pipelines record into the same object, so every path counts in one registry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Literal, TypeVar

import torch

from motivnet_serve.backends.emotion.predictor import Predictor
from motivnet_serve.backends.faces.finder import FaceFinder, FoundFace
from motivnet_serve.core import tracing
from motivnet_serve.core.admission import Admission, Reservation, Sessions
from motivnet_serve.core.background import run_in_background
from motivnet_serve.core.batch_step import BatchStep, warmup_sizes
from motivnet_serve.core.batching import DynamicBatcher, Timing
from motivnet_serve.core.engine_options import EngineOptions
from motivnet_serve.core.errors import DeadlineExceededError, ServiceError
from motivnet_serve.core.fair_executor import FairExecutor
from motivnet_serve.core.images import Upload, decode_image, image_pixels
from motivnet_serve.core.loading import acceleration_of, build_finder, load_predictor
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.core.results import FacePrediction, ModelDescription
from motivnet_serve.core.runtime import ThreadPolicy, resolve_detect_workers, use_threads

log = logging.getLogger(__name__)

T = TypeVar("T")

ImageInput = Upload | torch.Tensor
"""An image as sent (bytes, decoded by the engine off the event loop) or already decoded (HxWx3 uint8 RGB)."""


@dataclass(frozen=True)
class Classified:
    """One request's answer: per image its faces, and where the request's time went (seconds)."""

    model: str
    images: list[list[FacePrediction]]
    sizes: list[tuple[int, int]]
    """Each image's (width, height) as decoded (upright), for callers that place its faces in the frame."""
    detection_s: float
    queue_s: float
    inference_s: float
    total_s: float


@dataclass(frozen=True)
class _Turn:
    """How one request's images are found: in whose turn (`group`), on which detectors, how many faces kept."""

    group: Hashable
    detectors: FairExecutor
    detect: bool
    max_faces: int | None


class Engine:
    """Owns the face finder (on its own threads), the predictor and the predictor's batcher.

    Detection of the next requests runs while the current batch is in the model, on other threads; on the
    CPU several images are detected at once, one per worker (`detect_workers`). Detection and the model
    both serve waiting requests in turns, so a video's frames in flight do not queue ahead of a photo.
    """

    def __init__(self, predictor: Predictor, finder: FaceFinder, options: EngineOptions, metrics: Metrics) -> None:
        self._predictor = predictor
        self._finder = finder
        self._batching = options.batching
        self._max_image_pixels = options.limits.max_image_pixels
        self._metrics = metrics
        device = torch.device(predictor.info.device)
        workers = resolve_detect_workers(options.model.detector.workers, device)
        self._threads = ThreadPolicy.for_cpu(workers) if device.type == "cpu" else None
        self._step = BatchStep(predictor, self._forward_threads if self._threads else None)
        on_start = partial(use_threads, self._threads.detect_threads) if self._threads else _keep_threads
        self._detectors = FairExecutor(workers, "detect", initializer=on_start)
        self._background_detectors = FairExecutor(
            workers, "detect-background", initializer=partial(_in_background, on_start)
        )
        log.info(self._threads.describe() if self._threads else f"faces found on {workers} thread(s)")
        self._batcher = DynamicBatcher(
            self._step,
            max_batch_size=options.batching.max_batch_size,
            max_batch_delay_s=options.batching.max_batch_delay_ms / 1000,
            max_queue_size=options.batching.max_queue_size,
            observer=metrics,
            wait_only_for_incoming=True,
        )
        limits = options.limits
        self._admission = Admission(
            max_requests=limits.max_requests_in_flight,
            max_waiting=options.batching.max_queue_size,
            max_request_pixels=limits.max_request_pixels,
            max_pixels=limits.max_pixels_in_flight,
            wait_s=limits.admission_wait_ms / 1000,
            observer=metrics,
        )
        self._sessions = {
            "video": Sessions("videos", limits.max_videos_in_flight, metrics, metrics.videos_active.set),
            "stream": Sessions("streams", limits.max_streams, metrics, metrics.streams_active.set),
        }
        metrics.watch_device(device)

    @classmethod
    async def start(cls, options: EngineOptions, metrics: Metrics, *, warm: bool) -> Engine:
        """Loads the model and its detector off the event loop, warms both when asked, starts the batcher."""
        started = time.perf_counter()
        model = options.model
        acceleration = acceleration_of(model.compile)
        predictor = await asyncio.to_thread(
            load_predictor, model.model_dir, model.model_store, model.device, model.dtype, acceleration
        )
        device = torch.device(predictor.info.device)
        input_hw = predictor.info.architecture["input_hw"]
        finder = await asyncio.to_thread(build_finder, model.detector, model.model_store, device, input_hw)
        engine = cls(predictor, finder, options, metrics)
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
        info = self._predictor.info.model_dump()
        return ModelDescription(**info, detector=self._finder.name, batching=self._batching)

    def admit(self, deadline: float) -> AbstractAsyncContextManager[None]:
        """A request in flight for the block (enter it before reading the body); at the cap it waits in line
        until `deadline`, and gets 503 at once when the line is full."""
        return self._admission.request(deadline)

    def session(self, kind: Literal["video", "stream"]) -> AbstractContextManager[None]:
        """A video or live session open for the block; beyond `max_videos_in_flight` videos or `max_streams`
        sessions, 503 at once (`OverloadedError`). Their frames then take pixels like any request's images."""
        return self._sessions[kind].hold()

    async def classify(
        self,
        images: Sequence[ImageInput],
        *,
        detect: bool,
        deadline: float,
        max_faces: int | None = None,
        group: Hashable | None = None,
        background: bool = False,
    ) -> Classified:
        """Every face of every image, labelled; results keep image order, an image without faces has none.

        `deadline` is a `time.monotonic()` value covering decoding, detection and the queue: work still
        undone then fails with 504. The images' pixels (read from their headers) are reserved from the
        server's budget before any is decoded; each image is decoded and detected alone, then gives way to
        its crops, so a request holds at most one decoded image besides its crops. `max_faces` keeps only each
        image's best-scoring faces, before any reaches the model (a video asks for its few subjects). The model
        and the detectors serve waiting requests in turns; calls that pass the same `group` (a video's frames)
        share one turn. `background` work (a recorded video's frames) is detected on niced threads, so photos
        and live frames keep most of the CPU while a video is analysed (`motivnet_serve.core.background`).
        """
        with tracing.span("classify", motivnet_images=len(images), motivnet_detect=detect):
            return await self._classify(images, detect, deadline, max_faces, group, background)

    async def _classify(
        self,
        images: Sequence[ImageInput],
        detect: bool,
        deadline: float,
        max_faces: int | None,
        group: Hashable | None,
        background: bool,
    ) -> Classified:
        start = time.monotonic()
        timing = Timing()
        headers_to_read = any(not isinstance(image, torch.Tensor) for image in images)
        sized = await self._off_loop(self._on_thread(self._pixels, images)) if headers_to_read else self._pixels(images)
        async with self._admission.reserve(sum(sized), deadline) as reservation:
            with self._batcher.incoming() as arrival:
                detectors = self._background_detectors if background else self._detectors
                turn = _Turn(group if group is not None else object(), detectors, detect, max_faces)
                found, sizes, detection_s = await self._prepare(images, turn, deadline, reservation)
                crops = [crop for faces in found for _, crop in faces]
                rows = await arrival.submit(crops, deadline, timing, turn.group)
        return Classified(
            model=self._predictor.info.name,
            images=self._label(found, rows),
            sizes=sizes,
            detection_s=detection_s,
            queue_s=timing.queue_s,
            inference_s=timing.inference_s,
            total_s=time.monotonic() - start,
        )

    async def drain(self) -> None:
        """Refuses new work, answers every queued face, then releases the worker threads."""
        await self._batcher.stop()
        await asyncio.to_thread(self._detectors.shutdown)
        await asyncio.to_thread(self._background_detectors.shutdown)

    async def _prepare(
        self, images: Sequence[ImageInput], turn: _Turn, deadline: float, reservation: Reservation
    ) -> tuple[list[list[FoundFace]], list[tuple[int, int]], float]:
        """Decodes and detects image by image; each image's pixels leave the budget once only its crops
        remain. Returns the faces and the (width, height) per image, and the seconds spent detecting."""
        found: list[list[FoundFace]] = []
        sizes: list[tuple[int, int]] = []
        held = reservation.pixels
        detection_s = 0.0
        for image in images:
            self._check(deadline, "decoding")
            pixels = image if isinstance(image, torch.Tensor) else await self._decoded(image)
            self._check(deadline, "finding faces")
            # A request still decoding when the drain began is refused before detection: the detection threads
            # stop once the batcher has answered its queue (no await lies between this check and the submit).
            self._batcher.check_accepting()
            detect_start = time.monotonic()
            with tracing.span("detection", motivnet_detect=turn.detect):
                detecting = turn.detectors.submit(turn.group, self._find_faces, pixels, turn.detect)
                faces = (await self._off_loop(asyncio.wrap_future(detecting)))[: turn.max_faces]
            detection_s += time.monotonic() - detect_start if turn.detect else 0.0
            held += sum(crop.shape[0] * crop.shape[1] for _, crop in faces) - pixels.shape[0] * pixels.shape[1]
            sizes.append((pixels.shape[1], pixels.shape[0]))
            del pixels
            reservation.shrink_to(held)
            found.append(faces)
        if turn.detect:
            self._metrics.detection_seconds.observe(detection_s)
        return found, sizes, detection_s

    def _check(self, deadline: float, stage: str) -> None:
        """The deadline covers decoding and detection too; a request past it is counted and answered 504."""
        if time.monotonic() >= deadline:
            self._metrics.refused("timeout")
            raise DeadlineExceededError(
                f"the request's deadline passed before {stage}; the server is busy: retry later or allow a "
                "longer timeout"
            )

    def _pixels(self, images: Sequence[ImageInput]) -> list[int]:
        """Width x height of each image, from the headers of uploads (no pixel decoded yet)."""
        limit = self._max_image_pixels
        return [
            image.shape[0] * image.shape[1] if isinstance(image, torch.Tensor) else _named(image, image_pixels, limit)
            for image in images
        ]

    async def _decoded(self, image: Upload) -> torch.Tensor:
        with tracing.span("decode", motivnet_bytes=len(image.data)):
            return await self._off_loop(self._on_thread(self._decode, image))

    def _decode(self, image: Upload) -> torch.Tensor:
        return _named(image, decode_image, self._max_image_pixels)

    def _find_faces(self, image: torch.Tensor, detect: bool) -> list[FoundFace]:
        return (self._finder.find if detect else self._finder.whole)([image])[0]

    @staticmethod
    def _on_thread(work: Callable[..., T], *args: object) -> asyncio.Future[T]:
        """`work(*args)` on the loop's default thread pool (decoding, header reads)."""
        return asyncio.get_running_loop().run_in_executor(None, work, *args)

    @staticmethod
    async def _off_loop(future: asyncio.Future[T]) -> T:
        """Awaits work running on a thread; a cancelled request still waits for it, because the memory it holds
        is counted in the pixel budget until the thread lets go."""
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise

    def _label(self, found: list[list[FoundFace]], rows: list[torch.Tensor]) -> list[list[FacePrediction]]:
        """Per image, its faces' answers; `rows` holds one probability row per face, in `found` order."""
        labels = self._predictor.info.labels
        row_iter = iter(rows)
        return [[FacePrediction.of(face, labels, next(row_iter).tolist()) for face, _ in faces] for faces in found]

    def _forward_threads(self) -> int:
        """The forward's torch threads as it starts: the cores that busy detection workers leave (CPU only)."""
        assert self._threads is not None
        return self._threads.forward_threads(self._detectors.busy_workers + self._background_detectors.busy_workers)

    def _warmup(self) -> None:
        """A detection and a forward at each batch size before the first request meets them."""
        self._finder.warmup()
        seconds = self._step.warmup(warmup_sizes(self._batching.max_batch_size))
        log.info("warmed up in %.1f s", seconds)


def _keep_threads() -> None:
    """A detection thread on a GPU keeps torch's default CPU threads: its CPU work is only pre- and post-processing."""


def _in_background(on_start: Callable[[], None]) -> None:
    """A background detection thread: niced, then given its torch threads."""
    run_in_background()
    on_start()


def _named(upload: Upload, read: Callable[[bytes, int], T], limit: int) -> T:
    """The image's own error, prefixed with its file name so a client knows which of its files failed."""
    try:
        return read(upload.data, limit)
    except ServiceError as exc:
        name = f"{upload.filename!r}" if upload.filename else upload.unnamed
        raise type(exc)(f"{name}: {exc.message}", exc.headers) from None
