"""The three stages of the collection job on a cluster, as plain functions and one class over rows (dicts), so
that Ray Data can place them anywhere; nothing here imports ray (`cluster` wires them into a pipeline).

1. `decoded` (a CPU task per source): a video becomes one row per sampled frame (its pixels, as
   `/v1/video` samples and turns them) and an `end` row that says how decoding ended; any other source is one
   `whole` row, analysed as the local job does it.
2. `Classifier` (an actor that holds one engine): each frame's faces, detected and classified; each `whole`
   source through the local job's `SourceAnalyzer`. Frames of one video reach many actors.
3. `Gathered` (the grouped pass, in the driver, as the actors' rows come back): each source's rows gathered
   until it is whole (its `end` row and as many frames as that row counts), then `tracked`: the video's frames
   in frame order through the same tracker as `/v1/video`, then the local job's own row maker, so the tables
   come out as the local run writes them. A source is tracked as soon as its last row is classified, not
   after a cluster-wide shuffle of every row (which cost 4-6 s of a 22 s run on 2 cores, docs/performance.md).

Rows travel between stages with the same columns whatever their kind (a column store needs one type per
column): `uri`, `kind` (`frame`, `end`, `whole`), `order` (the frame's index; -1 for a whole source, after
every frame for `end`), `source` (the pickled `Source`), `time_ms`, `height`, `width`, `pixels` (RGB bytes)
and `answer` (JSON: what a stage learnt).
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import torch

from motivnet_serve.core.errors import ServiceError
from motivnet_serve.core.results import FacePrediction
from motivnet_serve.pipelines.collection.parts import SourceRows
from motivnet_serve.pipelines.collection.rows import (
    AnalyzeOptions,
    Answer,
    EngineStarter,
    RowMaker,
    SourceAnalyzer,
    SourceLimits,
    error_of,
    open_video,
    source_record,
    source_rows,
)
from motivnet_serve.pipelines.collection.sources import Source
from motivnet_serve.pipelines.decode import VideoReader
from motivnet_serve.pipelines.sampling import Sampler
from motivnet_serve.pipelines.tracks import Tracks

T = TypeVar("T")
log = logging.getLogger(__name__)
END = 1 << 62
"""The `order` of a video's `end` row: after any frame index."""


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: `address` of the cluster (None: `RAY_ADDRESS`, or a new cluster on this machine);
    `actors` holding one engine each; GPUs and CPUs each actor reserves (fractions share a device)."""

    address: str | None = None
    actors: int = 1
    gpus_per_actor: float = 0.0
    cpus_per_actor: float = 1.0


def row(source: bytes, uri: str, kind: str, order: int, answer: dict[str, Any], **frame: Any) -> dict[str, Any]:
    """One row between stages, every column present (`frame` gives `time_ms`, `height`, `width`, `pixels`)."""
    empty = {"time_ms": 0.0, "height": 0, "width": 0, "pixels": b""}
    return {"uri": uri, "kind": kind, "order": order, "source": source, **empty, **frame, "answer": json.dumps(answer)}


def decoded(item: dict[str, Any], *, limits: SourceLimits, fps: float) -> Iterator[dict[str, Any]]:
    """A video's sampled frames, then its `end` row; any other source (photo, unknown, missing), one `whole` row.
    A failure to open or decode is the `end` row's error, after the frames decoded before it (as `/v1/video`)."""
    source: Source = pickle.loads(item["source"])
    if source.kind != "video" or source.size < 0:
        yield row(item["source"], source.uri, "whole", -1, {})
        return
    started = time.monotonic()
    end: dict[str, Any] = {"error": None, "frames": 0}
    try:
        end["sha256"], file = open_video(source, limits.video_bytes)
        with file:
            reader = VideoReader(file, limits.video)
            end |= {"duration_s": reader.duration_s, "frame_rate": reader.frame_rate}
            try:
                for frame in reader.frames(Sampler(fps)):
                    height, width = frame.pixels.shape[:2]
                    pixels = frame.pixels.numpy().tobytes()
                    shape = {"height": height, "width": width, "pixels": pixels}
                    end["frames"] += 1
                    yield row(item["source"], source.uri, "frame", frame.index, {}, time_ms=frame.time_ms, **shape)
            finally:
                reader.close()
    except (ServiceError, OSError) as exc:
        end["error"] = error_of(exc)
    except Exception:  # a bug met on one video fails that video (logged), as the local job does
        log.exception("decoding %s failed", source.uri)
        end["error"] = ("internal", "the source could not be analysed; the log has why")
    yield row(item["source"], source.uri, "end", END, end | {"decode_s": time.monotonic() - started})


class Classifier:
    """One engine (the server's, in-process: batching, detection workers) for the rows of many sources.

    Ray Data calls it with batches of rows from any source; the batch's frames go into the engine together, so
    they share its batches as the frames of one local video do. The engine lives on its own event loop thread
    for the actor's life."""

    def __init__(self, start: EngineStarter, limits: SourceLimits, options: AnalyzeOptions) -> None:
        self._limits = limits
        self._options = options
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="engine-loop", daemon=True).start()
        self._engine, metrics = self._wait(start())
        self._analyzer = SourceAnalyzer(self._engine, limits, metrics, options)
        description = self._engine.describe()
        self._model = {
            "labels": description.labels,
            "model": {"model": description.name, "checkpoint_sha256": description.checkpoint_sha256},
            "min_score": limits.pacing.min_score,
        }

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        answers = self._wait(self._answer_all(rows))
        return pa.Table.from_pylist(
            [item | {"pixels": b"", "answer": json.dumps(answer)} for item, answer in zip(rows, answers)]
        )

    async def _answer_all(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._answer(item) for item in rows)))

    async def _answer(self, item: dict[str, Any]) -> dict[str, Any]:
        if item["kind"] == "end":
            end: dict[str, Any] = json.loads(item["answer"])
            return end | self._model
        if item["kind"] == "whole":
            rows = await self._analyzer.analyze(pickle.loads(item["source"]))
            return {"source": rows.source, "faces": rows.faces, "tracks": rows.tracks}
        return await self._frame(item)

    async def _frame(self, item: dict[str, Any]) -> dict[str, Any]:
        """The frame's faces as `/v1/video` classifies them, or its error (this frame's alone)."""
        pixels = np.frombuffer(item["pixels"], dtype=np.uint8).reshape(item["height"], item["width"], 3)
        started = time.monotonic()
        try:
            classified = await self._engine.classify(
                [torch.from_numpy(pixels.copy())],
                detect=self._options.detect,
                deadline=time.monotonic() + self._limits.photo_timeout_s,
                max_faces=self._options.max_faces,
                background=True,
            )
        except ServiceError as exc:
            return {"error": error_of(exc), "seconds": time.monotonic() - started}
        return {"faces": [face.model_dump() for face in classified.images[0]], "seconds": time.monotonic() - started}

    def _wait(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()


class Gathered:
    """The grouped pass: the classified rows of many sources, in any order and from any actor, gathered per
    source until it is whole. A row that comes back twice (a task Ray ran again) is counted once, by its order,
    and one that comes back after its source was handed on is dropped (it would wait forever for the rest)."""

    def __init__(self, fps: float) -> None:
        self._fps = fps
        self._rows: dict[str, dict[int, dict[str, Any]]] = {}
        self._done: set[str] = set()

    def take(self, item: dict[str, Any]) -> SourceRows | None:
        """The source's rows once `item` completes it; None while some of its rows are still on the cluster."""
        if item["uri"] in self._done:
            return None
        rows = self._rows.setdefault(item["uri"], {})
        rows[item["order"]] = item
        end = rows.get(END)
        if item["kind"] != "whole" and (end is None or len(rows) <= json.loads(end["answer"])["frames"]):
            return None
        del self._rows[item["uri"]]
        self._done.add(item["uri"])
        return tracked(list(rows.values()), fps=self._fps)


def tracked(group: list[dict[str, Any]], *, fps: float) -> SourceRows:
    """One source's rows (any order) as its `SourceRows`: the tables' rows for it."""
    rows = sorted(group, key=lambda item: item["order"])
    first = rows[0]
    if first["kind"] == "whole":
        result = json.loads(first["answer"])
        return SourceRows(result["source"], result["faces"], result["tracks"])
    return _video_rows(pickle.loads(first["source"]), rows, fps)


def _video_rows(source: Source, rows: list[dict[str, Any]], fps: float) -> SourceRows:
    """A video's frames through the tracker, and its answer lines through the local job's row maker."""
    end = json.loads(rows[-1]["answer"])
    record = source_record(source, end["model"]) | {"sha256": end.get("sha256")}
    frames = rows[:-1]
    lines = _lines(frames, end, fps)
    answer = Answer([], [], 0)
    if "error" in lines[0]:  # stopped before its first answer: as on /v1/video, the whole video fails
        answer.error = (lines[0]["error"]["code"], lines[0]["error"]["message"])
    else:
        maker = RowMaker(end["labels"], end["model"])
        for line in lines:
            maker.take(source, line, answer)
    seconds = end["decode_s"] + sum(json.loads(item["answer"]).get("seconds", 0.0) for item in frames)
    return source_rows(record, answer, seconds)


def _lines(frames: list[dict[str, Any]], end: dict[str, Any], fps: float) -> list[dict[str, Any]]:
    """The video's answer lines as `/v1/video` streams them: a line per frame, an error line if decoding stopped,
    then the summary with its tracks."""
    tracks = Tracks(end["labels"], fps or end.get("frame_rate") or 30.0, end["min_score"], 0.0)
    lines: list[dict[str, Any]] = []
    for item in frames:
        answer = json.loads(item["answer"])
        line: dict[str, Any] = {"frame": item["order"], "time_ms": item["time_ms"]}
        if "error" in answer:
            code, message = answer["error"]
            lines.append(line | {"error": {"code": code, "message": message}})
            continue
        faces = [FacePrediction.model_validate(face) for face in answer["faces"]]
        lines.append(line | {"faces": tracks.follow(faces, (0, 0, item["width"], item["height"]), item["time_ms"])})
    if end["error"] is not None:
        lines.append({"error": dict(zip(("code", "message"), end["error"]))})
    duration_s = end.get("duration_s")
    last_ms = frames[-1]["time_ms"] if frames else 0.0
    duration_ms = round(duration_s * 1000, 1) if duration_s is not None else last_ms
    return [*lines, {"summary": {"duration_ms": duration_ms, "tracks": tracks.summary()}}]
