"""Faces of consecutive frames as tracks: each face's track id, its optional smoothing, and per-track totals
for a video's summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from motivnet_serve.core.results import FacePrediction, labelled
from motivnet_serve.pipelines.tracking import Box, FaceTracker


@dataclass
class TrackTotals:
    first_ms: float
    last_ms: float
    frames: int = 0
    sums: list[float] = field(default_factory=list)


class Tracks:
    """Follows the faces of one video or session, frame after frame, in order.

    Args:
        labels: the model's labels, in its order.
        frame_rate: frames per second that `follow` sees.
        min_score: detector confidence a face needs to start a track.
        smoothing: weight of a track's past in [0, 1): each answer is `smoothing * previous + (1 - smoothing) *
            this frame`, so 0 (the default) answers every frame exactly as the model does.
    """

    def __init__(self, labels: Sequence[str], frame_rate: float, min_score: float, smoothing: float) -> None:
        self._labels = list(labels)
        self._tracker = FaceTracker(frame_rate, min_score)
        self._smoothing = smoothing
        self._smoothed: dict[int, list[float]] = {}
        self._totals: dict[int, TrackTotals] = {}

    def follow(self, faces: Sequence[FacePrediction], frame_box: Box, time_ms: float) -> list[dict[str, Any]]:
        """The frame's faces as JSON-ready dicts with `track_id`; a whole-image face is tracked as the frame."""
        boxes = [_box(face.box) if face.box else frame_box for face in faces]
        ids = self._tracker.assign(boxes, [face.score if face.score is not None else 1.0 for face in faces])
        return [self._answer(track_id, face, time_ms) for track_id, face in zip(ids, faces)]

    def summary(self) -> list[dict[str, Any]]:
        """Per track, in order of first appearance: when it was seen, on how many frames, its mean answer."""
        return [self._summarise(track_id, totals) for track_id, totals in self._totals.items()]

    def _answer(self, track_id: int, face: FacePrediction, time_ms: float) -> dict[str, Any]:
        row = [face.probabilities[label] for label in self._labels]
        self._count(track_id, row, time_ms)
        previous = self._smoothed.get(track_id)
        if previous is not None and self._smoothing:
            row = [self._smoothing * old + (1 - self._smoothing) * new for old, new in zip(previous, row)]
        self._smoothed[track_id] = row
        answer = face.model_dump()
        answer.update(labelled(self._labels, row))
        return {"track_id": track_id, **answer}

    def _count(self, track_id: int, row: list[float], time_ms: float) -> None:
        totals = self._totals.setdefault(track_id, TrackTotals(time_ms, time_ms, 0, [0.0] * len(row)))
        totals.last_ms = time_ms
        totals.frames += 1
        totals.sums = [total + value for total, value in zip(totals.sums, row)]

    def _summarise(self, track_id: int, totals: TrackTotals) -> dict[str, Any]:
        mean = [total / totals.frames for total in totals.sums]
        span = {"first_ms": totals.first_ms, "last_ms": totals.last_ms, "frames": totals.frames}
        return {"track_id": track_id, **span, **labelled(self._labels, mean)}


def _box(values: list[float]) -> Box:
    x1, y1, x2, y2 = values
    return (x1, y1, x2, y2)
