"""A recorded video through the engine, answered as a stream of lines while it is analysed.

Three stages overlap: a decoding thread reads the next sampled frame while earlier frames are in the engine
(detection on its thread, the emotion model on the batcher's), and answers leave in frame order as soon as
each is ready. At most `frames_in_flight` sampled frames are decoded and unanswered at once, so one long
video holds a bounded share of memory and of the model's queue, however long it is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from service.background import run_in_background
from service.config import Settings
from service.engine import Engine
from service.metrics import Metrics
from service.results import FacePrediction
from service.video.decode import VideoFrame, VideoReader
from service.video.sampling import Sampler
from service.video.tracks import Tracks

Answered = tuple[VideoFrame, list[FacePrediction]]
AnsweredQueue = asyncio.Queue[asyncio.Future[Answered] | None]
"""Frames handed to the engine, in order; None after the last."""


@dataclass(frozen=True)
class VideoOptions:
    """What a client asks of one video: sampled frames per second of video (0: every frame), detection,
    the most faces per frame, and the smoothing of each track's answers."""

    fps: float
    detect: bool
    max_faces: int | None
    smoothing: float


@dataclass(frozen=True)
class Pacing:
    """How hard one video may lean on the engine."""

    frames_in_flight: int
    frame_timeout_s: float
    min_score: float

    @classmethod
    def of(cls, settings: Settings) -> Pacing:
        return cls(
            settings.video_frames_in_flight, settings.request_timeout_ms / 1000, settings.detector_score_threshold
        )


class VideoAnalysis:
    """One video's answers: `lines()` yields a dict per sampled frame, then `{"summary": ...}`."""

    def __init__(
        self, engine: Engine, reader: VideoReader, options: VideoOptions, pacing: Pacing, metrics: Metrics
    ) -> None:
        self._engine = engine
        self._reader = reader
        self._options = options
        self._pacing = pacing
        self._metrics = metrics
        self._slots = asyncio.Semaphore(pacing.frames_in_flight)
        self._decoder = ThreadPoolExecutor(1, "video-decode", initializer=run_in_background)
        self._frames: Generator[VideoFrame, None, None] = reader.frames(Sampler(options.fps))

    async def lines(self) -> AsyncGenerator[dict[str, Any], None]:
        """Frame lines in order, then the summary; a failure raises where it happens, after the lines before it."""
        description = self._engine.describe()
        rate = self._options.fps or self._reader.frame_rate
        tracks = Tracks(description.labels, rate, self._pacing.min_score, self._options.smoothing)
        answered: AnsweredQueue = asyncio.Queue()
        producer = asyncio.create_task(self._produce(answered))
        count, last_ms = 0, 0.0
        try:
            while (pending := await answered.get()) is not None:
                frame, faces = await pending
                height, width = frame.pixels.shape[:2]
                line = {
                    "frame": frame.index,
                    "time_ms": frame.time_ms,
                    "faces": tracks.follow(faces, (0, 0, width, height), frame.time_ms),
                }
                count, last_ms = count + 1, frame.time_ms
                self._slots.release()
                yield line
            duration_s = self._reader.duration_s
            duration_ms = round(duration_s * 1000, 1) if duration_s is not None else last_ms
            yield {
                "summary": {
                    "model": description.name,
                    "frames": count,
                    "duration_ms": duration_ms,
                    "tracks": tracks.summary(),
                }
            }
        finally:
            await self._stop(producer, answered)

    async def _produce(self, answered: AnsweredQueue) -> None:
        """Decodes the next sampled frame whenever a slot is free and sends it to the engine at once."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._slots.acquire()
                frame = await asyncio.wrap_future(self._decode_next())
                if frame is None:
                    break
                answered.put_nowait(asyncio.ensure_future(self._classify(frame)))
        except Exception as exc:  # noqa: BLE001 - reaches the client as the last line, after the lines before it
            failed: asyncio.Future[Answered] = loop.create_future()
            failed.set_exception(exc)
            answered.put_nowait(failed)
        answered.put_nowait(None)

    def _decode_next(self) -> Future[VideoFrame | None]:
        return self._decoder.submit(next, self._frames, None)

    async def _classify(self, frame: VideoFrame) -> Answered:
        started = time.monotonic()
        classified = await self._engine.classify(
            [frame.pixels],
            detect=self._options.detect,
            deadline=started + self._pacing.frame_timeout_s,
            max_faces=self._options.max_faces,
            group=self,
            background=True,
        )
        self._metrics.video_frame_done(time.monotonic() - started)
        return frame, classified.images[0]

    async def _stop(self, producer: asyncio.Task[None], answered: AnsweredQueue) -> None:
        """Withdraws unanswered frames from the engine, then closes the file once the decoder is idle."""
        producer.cancel()
        leftovers: list[asyncio.Future[Any]] = [producer]
        while not answered.empty():
            pending = answered.get_nowait()
            if pending is not None:
                pending.cancel()
                leftovers.append(pending)
        await asyncio.gather(*leftovers, return_exceptions=True)
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._decoder.shutdown(wait=True)
        self._frames.close()
        self._reader.close()
