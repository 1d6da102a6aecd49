"""Track ids, smoothing and per-track totals, on boxes and answers given directly (no model)."""

from __future__ import annotations

import pytest

from motivnet_serve.core.results import FacePrediction
from motivnet_serve.pipelines.sampling import Sampler
from motivnet_serve.pipelines.tracking import FaceTracker
from motivnet_serve.pipelines.tracks import Tracks

LABELS = ["Neutral", "Happiness", "Sadness"]
FRAME = (0.0, 0.0, 640.0, 360.0)


def face(box: tuple[float, ...], row: list[float]) -> FacePrediction:
    best = max(range(len(row)), key=row.__getitem__)
    return FacePrediction(
        box=list(box), score=0.99, landmarks={}, label=LABELS[best], probabilities=dict(zip(LABELS, row))
    )


def test_ids_from_the_first_frame_follow_the_boxes_and_each_session_counts_from_one():
    tracker, other = FaceTracker(frame_rate=5, min_score=0.9), FaceTracker(frame_rate=5, min_score=0.9)
    assert other.assign([(0, 0, 50, 50)], [0.99]) == [1]
    left, right = (100, 100, 160, 170), (400, 100, 460, 170)
    assert tracker.assign([left, right], [0.99, 0.98]) == [1, 2]
    for step in range(1, 6):  # both drift right by 4 px a frame; the detector lists them in either order
        moved_left = (left[0] + 4 * step, 100, left[2] + 4 * step, 170)
        moved_right = (right[0] + 4 * step, 100, right[2] + 4 * step, 170)
        assert tracker.assign([moved_right, moved_left], [0.99, 0.99]) == [2, 1]
    assert tracker.assign([(250, 250, 300, 310)], [0.99]) == [3]  # someone new, elsewhere


def test_smoothing_averages_a_tracks_past_and_the_summary_means_the_raw_answers():
    first, second = [0.2, 0.7, 0.1], [0.6, 0.2, 0.2]
    smooth = Tracks(LABELS, frame_rate=5, min_score=0.9, smoothing=0.5)
    exact = Tracks(LABELS, frame_rate=5, min_score=0.9, smoothing=0.0)
    box = (100, 100, 160, 170)
    for tracks in (smooth, exact):
        tracks.follow([face(box, first)], FRAME, 0.0)
    smoothed = smooth.follow([face(box, second)], FRAME, 200.0)[0]
    assert smoothed["probabilities"] == pytest.approx(dict(zip(LABELS, [0.4, 0.45, 0.15])))
    assert smoothed["label"] == "Happiness"
    assert smoothed["track_id"] == 1
    assert exact.follow([face(box, second)], FRAME, 200.0)[0]["probabilities"] == dict(zip(LABELS, second))
    [track] = smooth.summary()
    assert track == {
        "track_id": 1,
        "first_ms": 0.0,
        "last_ms": 200.0,
        "frames": 2,
        "label": "Happiness",
        "probabilities": pytest.approx(dict(zip(LABELS, [0.4, 0.45, 0.15]))),
    }


def test_whole_frame_faces_keep_one_track():
    tracks = Tracks(LABELS, frame_rate=5, min_score=0.9, smoothing=0.0)
    whole = FacePrediction(label="Neutral", probabilities=dict(zip(LABELS, [0.5, 0.3, 0.2])))
    ids = [tracks.follow([whole], FRAME, index * 200.0)[0]["track_id"] for index in range(4)]
    assert ids == [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("fps", "times", "kept"),
    [
        (5, [i / 30 for i in range(31)], [0, 6, 12, 18, 24, 30]),
        (0, [0.0, 0.04, 0.08], [0, 1, 2]),
        (2, [0.0, 0.3, 0.45, 0.52, 0.9, 1.01, 1.6], [0, 3, 5, 6]),  # variable frame rate: by timestamp
    ],
)
def test_sampler_keeps_frames_by_timestamp(fps, times, kept):
    sampler = Sampler(fps)
    assert [index for index, time_s in enumerate(times) if sampler.take(time_s)] == kept
