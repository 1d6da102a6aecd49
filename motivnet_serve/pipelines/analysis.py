"""A recorded video through the engine, answered as a stream of lines while it is analysed.

Three stages overlap: a decoding thread reads the next sampled frame while earlier frames are in the engine
(detection on its thread, the emotion model on the batcher's), and answers leave in frame order as soon as
each is ready. At most `frames_in_flight` sampled frames are decoded and unanswered at once, so one long
video holds a bounded share of memory and of the model's queue, however long it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from motivnet_serve.core import tracing
from motivnet_serve.core.background import run_in_background
from motivnet_serve.core.engine import Engine
from motivnet_serve.core.errors import ModelFailureError, ServiceError
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.core.results import FacePrediction
from motivnet_serve.pipelines.decode import VideoFrame, VideoReader
from motivnet_serve.pipelines.sampling import Sampler
from motivnet_serve.pipelines.tracks import Tracks

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Outcome:
    """What became of one sampled frame: its faces, or the error that only this frame's line reports."""

    frame: VideoFrame
    faces: list[FacePrediction] | None = None
    error: ServiceError | None = None


@dataclass(frozen=True)
class Stopped:
    """The video cannot go on (a frame that cannot be decoded, a limit passed while it plays)."""

    error: Exception


Pending = asyncio.Future[Outcome] | Stopped
PendingQueue = asyncio.Queue[Pending | None]
"""Frames handed to the engine, in order, or why decoding stopped; None after the last."""


class VideoAnalysis:
    """One video's answers: `lines()` yields a dict per sampled frame, then `{"summary": ...}`, always last."""

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
        self._spans = tracing.SpanBudget(tracing.FRAMES_PER_SESSION)

    async def lines(self) -> AsyncGenerator[dict[str, Any], None]:
        """Frame lines in order, then the summary. A failure before the first line raises (so HTTP answers it
        with its status); after it, a failed frame is that frame's `error` line and the video goes on, and a
        failure that stops the video is an `{"error": ...}` line; the summary follows either way."""
        description = self._engine.describe()
        rate = self._options.fps or self._reader.frame_rate
        tracks = Tracks(description.labels, rate, self._pacing.min_score, self._options.smoothing)
        answered: PendingQueue = asyncio.Queue()
        producer = asyncio.create_task(self._produce(answered))
        tally = Tally()
        try:
            while (pending := await answered.get()) is not None:
                line = await self._line(pending, tracks, first=not tally.lines)
                self._slots.release()
                tally.add(line)
                yield line
            yield {
                "summary": {
                    "model": description.name,
                    **tally.summary(self._reader.duration_s),
                    "tracks": tracks.summary(),
                }
            }
        finally:
            await self._stop(producer, answered)

    async def _line(self, pending: Pending, tracks: Tracks, first: bool) -> dict[str, Any]:
        """One frame's line (or the line that says why the video stopped); before the first line, raises."""
        if isinstance(pending, Stopped):
            if first:
                raise pending.error
            return {"error": _error(pending.error)}
        outcome = await pending
        if outcome.error is not None and first:
            raise outcome.error
        line: dict[str, Any] = {"frame": outcome.frame.index, "time_ms": outcome.frame.time_ms}
        if outcome.error is not None:
            return {**line, "error": _error(outcome.error)}
        height, width = outcome.frame.pixels.shape[:2]
        try:
            return {**line, "faces": tracks.follow(outcome.faces or [], (0, 0, width, height), outcome.frame.time_ms)}
        except Exception as exc:  # noqa: BLE001 - a bug in one frame's tracking fails that frame, logged once
            return {**line, "error": _error(self._unexpected(exc, outcome.frame))}

    async def _produce(self, answered: PendingQueue) -> None:
        """Decodes the next sampled frame whenever a slot is free and sends it to the engine at once."""
        try:
            while True:
                await self._slots.acquire()
                frame = await asyncio.wrap_future(self._decode_next())
                if frame is None:
                    break
                answered.put_nowait(asyncio.ensure_future(self._classify(frame)))
        except Exception as exc:  # reaches the client as a line, after the lines before it
            if not isinstance(exc, ServiceError):
                log.exception("video decoding failed")
                self._metrics.frame_failed("video", "stopped")
            answered.put_nowait(Stopped(exc))
        answered.put_nowait(None)

    def _decode_next(self) -> Future[VideoFrame | None]:
        return self._decoder.submit(next, self._frames, None)

    async def _classify(self, frame: VideoFrame) -> Outcome:
        """The frame's faces, or why it has none: a failure here is this frame's alone."""
        started = time.monotonic()
        try:
            with self._spans.span("frame", motivnet_frame=frame.index):
                classified = await self._engine.classify(
                    [frame.pixels],
                    detect=self._options.detect,
                    deadline=started + self._pacing.frame_timeout_s,
                    max_faces=self._options.max_faces,
                    group=self,
                    background=True,
                )
        except ServiceError as exc:
            return Outcome(frame, error=exc)
        except Exception as exc:  # noqa: BLE001 - the frame still gets its line, and the video goes on
            return Outcome(frame, error=self._unexpected(exc, frame))
        self._metrics.video_frame_done(time.monotonic() - started)
        return Outcome(frame, faces=classified.images[0])

    def _unexpected(self, exc: Exception, frame: VideoFrame) -> ServiceError:
        """A server bug met on one frame: logged with its traceback and counted, once; the frame's answer says so."""
        log.error("video frame %d failed", frame.index, exc_info=exc)
        self._metrics.frame_failed("video")
        return ModelFailureError("the frame could not be analysed; the server logged it")

    async def _stop(self, producer: asyncio.Task[None], answered: PendingQueue) -> None:
        """Withdraws unanswered frames from the engine, then closes the file once the decoder is idle."""
        producer.cancel()
        leftovers: list[asyncio.Future[Any]] = [producer]
        while not answered.empty():
            pending = answered.get_nowait()
            if isinstance(pending, asyncio.Future):
                pending.cancel()
                leftovers.append(pending)
        await asyncio.gather(*leftovers, return_exceptions=True)
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._decoder.shutdown(wait=True)
        self._frames.close()
        self._reader.close()


class Tally:
    """What the summary says of the lines: how many frames, how many failed, how far the video went."""

    def __init__(self) -> None:
        self.lines = 0
        self.frames = 0
        self.errors = 0
        self.last_ms = 0.0

    def add(self, line: dict[str, Any]) -> None:
        self.lines += 1
        self.errors += "error" in line
        if "frame" in line:
            self.frames += 1
            self.last_ms = line["time_ms"]

    def summary(self, duration_s: float | None) -> dict[str, Any]:
        duration_ms = round(duration_s * 1000, 1) if duration_s is not None else self.last_ms
        return {"frames": self.frames, "errors": self.errors, "duration_ms": duration_ms}


def _error(exc: Exception) -> dict[str, str]:
    if isinstance(exc, ServiceError):
        return {"code": exc.code, "message": exc.message}
    return {"code": "internal", "message": "internal error; the server logged it"}
