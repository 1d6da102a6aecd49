"""A live camera session: encoded frames in, exactly one reply per frame out, in order, never falling behind.

At most `frames_in_flight` frames of a session are in the engine at once; a frame that arrives while they
are busy waits in one slot, and a newer frame takes the slot from it (the older one is answered
`{"frame": N, "skipped": true}`), so the answers follow the camera however slow the model is. Track ids and
smoothing are applied in frame order as the replies leave.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from motivnet_serve.core import tracing
from motivnet_serve.core.engine import Engine
from motivnet_serve.core.errors import ModelFailureError, ServiceError, UploadTooLargeError
from motivnet_serve.core.images import Upload, image_pixels
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.core.results import FacePrediction
from motivnet_serve.pipelines.tracks import Tracks

log = logging.getLogger(__name__)

CAMERA_RATE = 30.0
"""Frames per second the tracker assumes: a live session does not declare its rate."""


class StreamConfig(BaseModel):
    """The optional first message, `{"config": {...}}`."""

    model_config = ConfigDict(extra="forbid")

    detect: bool = Field(True, description="Find faces first; false treats each frame as one face.")
    max_faces: int | None = Field(None, ge=1, description="Most faces per frame, best first.")
    smoothing: float = Field(0.0, ge=0, lt=1, description="Weight of a track's past answers.")


@dataclass(frozen=True)
class StreamLimits:
    max_message_bytes: int
    max_frame_pixels: int
    frames_in_flight: int
    frame_timeout_s: float
    min_score: float


@dataclass
class Frame:
    """One received frame and, once its turn is over, what became of it."""

    number: int
    data: bytes
    received: float
    done: asyncio.Future[Frame] = field(repr=False)
    faces: list[FacePrediction] | None = None
    size: tuple[int, int] = (0, 0)
    error: ServiceError | None = None
    skipped: bool = False


class LiveSession:
    """Feed it frames with `add`; iterate `replies()` to send them. `close()` withdraws unfinished work."""

    def __init__(self, engine: Engine, config: StreamConfig, limits: StreamLimits, metrics: Metrics) -> None:
        self._engine = engine
        self._config = config
        self._limits = limits
        self._metrics = metrics
        self._tracks = Tracks(engine.describe().labels, CAMERA_RATE, limits.min_score, config.smoothing)
        self._order: asyncio.Queue[Frame] = asyncio.Queue()
        self._waiting: Frame | None = None
        self._working: set[asyncio.Task[None]] = set()
        self._count = 0
        self._spans = tracing.SpanBudget(tracing.FRAMES_PER_SESSION)
        self.id = secrets.token_hex(4)
        """Names the session in the log, so a failure can be found from the client's side."""

    def add(self, data: bytes) -> None:
        """A frame arrived: it starts at once, or waits in the slot (skipping the frame that waited there)."""
        frame = Frame(self._count, data, time.monotonic(), asyncio.get_running_loop().create_future())
        self._count += 1
        self._order.put_nowait(frame)
        if len(data) > self._limits.max_message_bytes:
            message = f"frame message is {len(data)} bytes; at most {self._limits.max_message_bytes} allowed"
            self._finish(frame, error=UploadTooLargeError(message))
        elif len(self._working) < self._limits.frames_in_flight:
            self._start(frame)
        else:
            if self._waiting is not None:
                self._finish(self._waiting, skipped=True)
            self._waiting = frame

    async def replies(self) -> AsyncIterator[dict[str, Any]]:
        """One reply per frame, in the order the frames came; a failure while a frame is answered is that
        frame's error reply, never a silence."""
        while True:
            frame = await (await self._order.get()).done
            try:
                reply = self._reply(frame)
            except Exception as exc:  # noqa: BLE001 - the frame still gets its one reply, and the session goes on
                error = self._unexpected(exc, frame.number)
                reply = {"frame": frame.number, "error": {"code": error.code, "message": error.message}}
                self._metrics.stream_frame_done("error", time.monotonic() - frame.received)
            yield reply

    def failed(self, exc: BaseException) -> None:
        """The session cannot go on (its caller closes it with 1011): logged once, with its id, and counted."""
        log.error("live session %s stopped", self.id, exc_info=exc)
        self._metrics.frame_failed("stream", "stopped")

    async def close(self) -> None:
        for task in self._working:
            task.cancel()
        await asyncio.gather(*self._working, return_exceptions=True)

    def _start(self, frame: Frame) -> None:
        task = asyncio.create_task(self._traced(frame))
        self._working.add(task)
        task.add_done_callback(self._next)

    def _next(self, task: asyncio.Task[None]) -> None:
        self._working.discard(task)
        if self._waiting is not None:
            frame, self._waiting = self._waiting, None
            self._start(frame)

    async def _traced(self, frame: Frame) -> None:
        with self._spans.span("frame", motivnet_frame=frame.number):
            await self._classify(frame)

    async def _classify(self, frame: Frame) -> None:
        try:
            await asyncio.to_thread(image_pixels, frame.data, self._limits.max_frame_pixels)  # the frame's own limit
            classified = await self._engine.classify(  # reserves the frame's pixels, then decodes it
                [Upload(None, frame.data, unnamed=f"frame {frame.number}")],
                detect=self._config.detect,
                deadline=frame.received + self._limits.frame_timeout_s,
                max_faces=self._config.max_faces,
                group=self,
            )
        except ServiceError as exc:
            self._finish(frame, error=exc)
            return
        except Exception as exc:  # noqa: BLE001 - the frame still gets its one reply, and the session goes on
            self._finish(frame, error=self._unexpected(exc, frame.number))
            return
        frame.size = classified.sizes[0]
        self._finish(frame, faces=classified.images[0])

    def _unexpected(self, exc: Exception, number: int) -> ServiceError:
        """A server bug met on one frame: logged with the session's id and counted, once; the frame's answer."""
        log.error("live session %s: frame %d failed", self.id, number, exc_info=exc)
        self._metrics.frame_failed("stream")
        return ModelFailureError("the frame could not be analysed; the server logged it")

    def _finish(self, frame: Frame, **outcome: Any) -> None:
        for name, value in outcome.items():
            setattr(frame, name, value)
        frame.data = b""
        frame.done.set_result(frame)

    def _reply(self, frame: Frame) -> dict[str, Any]:
        latency_s = time.monotonic() - frame.received
        if frame.skipped:
            self._metrics.stream_frame_done("skipped", latency_s)
            return {"frame": frame.number, "skipped": True}
        if frame.error is not None:
            self._metrics.stream_frame_done("error", latency_s)
            return {"frame": frame.number, "error": {"code": frame.error.code, "message": frame.error.message}}
        width, height = frame.size
        faces = self._tracks.follow(frame.faces or [], (0, 0, width, height), frame.received * 1000)
        self._metrics.stream_frame_done("ok", latency_s)
        return {"frame": frame.number, "faces": faces, "latency_ms": round(latency_s * 1000, 1)}
