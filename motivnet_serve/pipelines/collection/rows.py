"""One source through the engine, as rows of the three tables.

A photo goes through `Engine.classify` as `/predict` sends it; a video through `VideoAnalysis`, the pipeline
behind `/v1/video` (same sampling, decoding window, tracker): so a source's rows carry the numbers the HTTP
API would answer for the same file. Whatever goes wrong with one source (missing, unreadable, not media,
too large, corrupt) becomes its `sources` row with the API's error code; it never stops the collection.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from motivnet_serve.core.engine import Engine
from motivnet_serve.core.errors import NoImageError, ServiceError, UploadTooLargeError
from motivnet_serve.core.images import Upload
from motivnet_serve.core.metrics import Metrics
from motivnet_serve.core.results import FacePrediction
from motivnet_serve.pipelines.analysis import Pacing, VideoAnalysis, VideoOptions
from motivnet_serve.pipelines.collection.parts import SourceRows
from motivnet_serve.pipelines.collection.schema import LANDMARKS, probability_columns
from motivnet_serve.pipelines.collection.sources import Source, content_sha256
from motivnet_serve.pipelines.decode import VideoLimits, VideoReader, demuxer_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalyzeOptions:
    """As on the HTTP API: sampled frames per second of video (0: every frame), detection, most faces per
    frame (best first; None: all the detector keeps)."""

    fps: float = 5.0
    detect: bool = True
    max_faces: int | None = None


@dataclass(frozen=True)
class SourceLimits:
    """What one source may be, as the HTTP API allows it: a photo's bytes and deadline (`/predict`), a video's
    bytes, frames and pace (`/v1/video`), and how many videos play at once; the caller reads them from the
    settings."""

    photo_bytes: int
    photo_timeout_s: float
    video_bytes: int
    video: VideoLimits
    pacing: Pacing
    videos_in_flight: int


EngineStarter = Callable[[], Coroutine[Any, Any, tuple[Engine, Metrics]]]
"""Starts an engine and its metrics where it is called: in this process, or in each Ray actor."""


@dataclass(frozen=True)
class EngineRecipe:
    """What the job needs wherever it runs: how to start an engine, and the limits of one source. Both pickle, so
    Ray sends them to each actor; the caller (the CLI, or `analyze()`) makes them from the settings."""

    start: EngineStarter
    limits: SourceLimits


@dataclass
class Answer:
    """What one source gave: face rows, track rows, frames analysed, the video's length, the first error."""

    faces: list[dict[str, Any]]
    tracks: list[dict[str, Any]]
    frames: int
    duration_ms: float | None = None
    error: tuple[str, str] | None = None


class SourceAnalyzer:
    """Turns sources into `SourceRows` with one engine; safe to call for many sources at once."""

    def __init__(self, engine: Engine, limits: SourceLimits, metrics: Metrics, options: AnalyzeOptions) -> None:
        self._engine = engine
        self._limits = limits
        self._metrics = metrics
        self._options = options
        description = engine.describe()
        self._model = {"model": description.name, "checkpoint_sha256": description.checkpoint_sha256}
        self._rows = RowMaker(description.labels, self._model)

    async def analyze(self, source: Source) -> SourceRows:
        """The source's rows; a failure is its `sources` row, with whatever frames came before it."""
        started = time.monotonic()
        record = source_record(source, self._model)
        try:
            answer = await self._answer(source, record)
        except (ServiceError, OSError) as exc:
            answer = Answer([], [], 0, error=error_of(exc))
        except Exception:  # a bug met on one source fails that source (logged), not the collection
            log.exception("analysing %s failed", source.uri)
            answer = Answer([], [], 0, error=("internal", "the source could not be analysed; the log has why"))
        return source_rows(record, answer, time.monotonic() - started)

    async def _answer(self, source: Source, record: dict[str, Any]) -> Answer:
        if source.size < 0:
            raise FileNotFoundError(source.uri)
        if source.kind == "unknown":
            record["kind"] = await asyncio.to_thread(self._sniff, source)
        if record["kind"] == "video":
            return await self._video(source, record)
        return await self._photo(source, record)

    def _sniff(self, source: Source) -> str:
        """A file named without a media suffix is what its first bytes say (a GIF stays a photo, as in /predict)."""
        with source.filesystem.open_input_stream(source.path) as stream:
            head = stream.read(12)
        return "video" if demuxer_for(head) not in (None, "gif") else "photo"

    async def _photo(self, source: Source, record: dict[str, Any]) -> Answer:
        data = await asyncio.to_thread(self._read, source, self._limits.photo_bytes)
        record["sha256"] = hashlib.sha256(data).hexdigest()
        if not data:
            raise NoImageError("the file is empty")
        deadline = time.monotonic() + self._limits.photo_timeout_s
        upload = Upload(source.uri, data)
        options = self._options
        classified = await self._engine.classify(
            [upload], detect=options.detect, deadline=deadline, max_faces=options.max_faces
        )
        place = {"source": source.uri, "kind": "photo", "frame": 0, "time_ms": None, "track_id": None}
        faces = [self._rows.face({**place, "face": index}, face) for index, face in enumerate(classified.images[0])]
        return Answer(faces, [], 1)

    async def _video(self, source: Source, record: dict[str, Any]) -> Answer:
        record["sha256"], file = await asyncio.to_thread(open_video, source, self._limits.video_bytes)
        options = VideoOptions(
            fps=self._options.fps, detect=self._options.detect, max_faces=self._options.max_faces, smoothing=0.0
        )
        with file, self._engine.session("video"):
            reader = await asyncio.to_thread(VideoReader, file, self._limits.video)
            analysis = VideoAnalysis(self._engine, reader, options, self._limits.pacing, self._metrics)
            answer = Answer([], [], 0)
            async for line in analysis.lines():
                self._rows.take(source, line, answer)
        return answer

    @staticmethod
    def _read(source: Source, limit: int) -> bytes:
        """The whole file, refused past `limit` bytes without reading further (a photo is held whole to decode)."""
        if source.size > limit:
            raise UploadTooLargeError(f"the file is {source.size} bytes; at most {limit} allowed")
        with source.filesystem.open_input_stream(source.path) as stream:
            data: bytes = stream.read(limit + 1)
        if len(data) > limit:
            raise UploadTooLargeError(f"the file is over {limit} bytes")
        return data


def open_video(source: Source, max_bytes: int) -> tuple[str, BinaryIO]:
    """The video's sha256 and the file opened for the demuxer (pyarrow's random-access reader, on the local disk
    or a bucket); refused past `max_bytes` (`max_video_bytes`) before a byte is read."""
    if source.size > max_bytes:
        raise UploadTooLargeError(f"the video is {source.size} bytes; at most {max_bytes}")
    sha256 = content_sha256(source)
    opener: Callable[[str], BinaryIO] = source.filesystem.open_input_file
    return sha256, opener(source.path)


def error_of(exc: ServiceError | OSError) -> tuple[str, str]:
    """Why a source failed, as the API's error code and message (a missing or unreadable file has its own)."""
    if isinstance(exc, ServiceError):
        return exc.code, exc.message
    if isinstance(exc, FileNotFoundError):
        return "not_found", "no such file"
    return "unreadable", f"the file could not be read: {exc}"


def source_record(source: Source, model: dict[str, str]) -> dict[str, Any]:
    """The start of a source's `sources` row: what the listing knows of it, and the model that answers."""
    record: dict[str, Any] = {"source": source.uri, "kind": source.kind, "size_bytes": source.size}
    return record | {"mtime_ns": source.mtime_ns, "true_label": source.label, **model}


def source_rows(record: dict[str, Any], answer: Answer, seconds: float) -> SourceRows:
    """The source's rows, its `sources` row completed from what the answer holds."""
    record |= {"frames": answer.frames, "faces": len(answer.faces), "duration_ms": answer.duration_ms}
    record |= {"status": "ok" if answer.error is None else "failed", "seconds": seconds}
    record |= dict(zip(("error_code", "error_message"), answer.error or (None, None)))
    return SourceRows(record, answer.faces, answer.tracks)


class RowMaker:
    """The rows of one model's answers: a video's answer lines, or a photo's faces, as `faces` and `tracks` rows.
    Apart from the engine, so that a runner that classifies elsewhere (a cluster) makes the same rows."""

    def __init__(self, labels: Sequence[str], model: dict[str, str]) -> None:
        self._labels = list(labels)
        self._model = model

    def take(self, source: Source, line: dict[str, Any], answer: Answer) -> None:
        """One answer line of the video into the answer: a frame's faces, an error, or the summary's tracks."""
        if "summary" in line:
            summary = line["summary"]
            answer.duration_ms = summary["duration_ms"]
            answer.tracks = [self.track(source, track) for track in summary["tracks"]]
            return
        if "error" in line:
            where = f"frame {line['frame']}: " if "frame" in line else ""
            answer.error = answer.error or (line["error"]["code"], where + line["error"]["message"])
            return
        answer.frames += 1
        place = {"source": source.uri, "kind": "video", "frame": line["frame"], "time_ms": line["time_ms"]}
        for index, face in enumerate(line["faces"]):
            prediction = FacePrediction.model_validate(face)
            answer.faces.append(self.face({**place, "face": index, "track_id": face["track_id"]}, prediction))

    def face(self, place: dict[str, Any], face: FacePrediction) -> dict[str, Any]:
        """`place` (source, kind, frame, time, rank, track) and the face's box, landmarks and answer, as a row."""
        row = {**place, "score": face.score, "label": face.label, **self._model}
        row |= dict(zip(("x1", "y1", "x2", "y2"), face.box or (None,) * 4))
        for name in LANDMARKS:
            x, y = (face.landmarks or {}).get(name, (None, None))
            row |= {f"{name}_x": x, f"{name}_y": y}
        return row | self._probabilities(face.probabilities)

    def track(self, source: Source, track: dict[str, Any]) -> dict[str, Any]:
        span = {key: track[key] for key in ("track_id", "first_ms", "last_ms", "frames", "label")}
        return {"source": source.uri, **span, **self._probabilities(track["probabilities"]), **self._model}

    def _probabilities(self, by_label: dict[str, float]) -> dict[str, float]:
        return probability_columns(self._labels, [by_label[label] for label in self._labels])
