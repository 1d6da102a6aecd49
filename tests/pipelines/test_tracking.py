"""Track ids through every sequence of detections a camera produces: no face at all, faces leaving one by one
or all at once, faces coming back, faces appearing on the last frame, a clip of one frame (no model)."""

from __future__ import annotations

import pytest

from motivnet_serve.pipelines.tracking import LOST_TRACK_SECONDS, FaceTracker
from motivnet_serve.pipelines.tracks import Tracks
from tests.pipelines.test_tracks import FRAME, LABELS, face

RATE = 5
LEFT, MIDDLE, RIGHT = (100, 100, 160, 170), (260, 100, 320, 170), (420, 100, 480, 170)


def frames(tracker: FaceTracker, *boxes_per_frame: list[tuple[float, ...]]) -> list[list[int]]:
    return [tracker.assign(boxes, [0.99] * len(boxes)) for boxes in boxes_per_frame]


def test_no_face_from_the_start_then_one_on_the_last_frame():
    tracker = FaceTracker(frame_rate=RATE, min_score=0.9)
    assert frames(tracker, [], [], [], [LEFT]) == [[], [], [], [1]]


def test_a_one_frame_clip_and_an_empty_one_frame_clip():
    assert FaceTracker(frame_rate=RATE, min_score=0.9).assign([LEFT, RIGHT], [0.99, 0.95]) == [1, 2]
    assert FaceTracker(frame_rate=RATE, min_score=0.9).assign([], []) == []


def test_all_faces_leave_and_the_tracker_goes_on():
    tracker = FaceTracker(frame_rate=RATE, min_score=0.9)
    empty = [[]] * (3 * RATE)  # much longer than the lost-track buffer
    assert frames(tracker, [LEFT, RIGHT], [LEFT, RIGHT], *empty) == [[1, 2], [1, 2], *empty]


def test_one_of_several_leaves_and_the_others_keep_their_ids():
    tracker = FaceTracker(frame_rate=RATE, min_score=0.9)
    answers = frames(tracker, [LEFT, MIDDLE, RIGHT], [LEFT, RIGHT], [RIGHT, LEFT], [LEFT], [LEFT])
    assert answers == [[1, 2, 3], [1, 3], [3, 1], [1], [1]]


@pytest.mark.parametrize("gone_frames", [1, 2, round(LOST_TRACK_SECONDS * RATE) - 1])
def test_a_face_back_within_the_lost_track_buffer_keeps_its_id(gone_frames):
    tracker = FaceTracker(frame_rate=RATE, min_score=0.9)
    answers = frames(tracker, [LEFT, RIGHT], [LEFT, RIGHT], *[[LEFT]] * gone_frames, [LEFT, RIGHT])
    assert answers[-1] == [1, 2]


@pytest.mark.parametrize("gone_frames", [round(LOST_TRACK_SECONDS * RATE) + 1, 4 * RATE])
def test_a_face_back_after_the_lost_track_buffer_is_a_new_track(gone_frames):
    tracker = FaceTracker(frame_rate=RATE, min_score=0.9)
    answers = frames(tracker, [LEFT, RIGHT], [LEFT, RIGHT], *[[LEFT]] * gone_frames, [LEFT, RIGHT])
    assert answers[-1] == [1, 3]


def test_a_face_back_elsewhere_is_a_new_track():
    tracker = FaceTracker(frame_rate=RATE, min_score=0.9)
    assert frames(tracker, [LEFT], [LEFT], [], [RIGHT]) == [[1], [1], [], [2]]


@pytest.mark.parametrize("rate", [0.5, 1, 2])
def test_slow_sampling_keeps_a_steady_face_on_one_track(rate):
    """Below 1 frame/s the library's own buffer rounds to zero frames, which would end every track at once."""
    tracker = FaceTracker(frame_rate=rate, min_score=0.9)
    assert frames(tracker, *[[LEFT, RIGHT]] * 6) == [[1, 2]] * 6


def test_tracks_answer_empty_frames_and_the_summary_counts_only_faces():
    tracks = Tracks(LABELS, frame_rate=RATE, min_score=0.9, smoothing=0.5)
    row = [0.2, 0.7, 0.1]
    answers = [tracks.follow(faces, FRAME, index * 200.0) for index, faces in enumerate([[], [face(LEFT, row)], []])]
    assert [[answer["track_id"] for answer in frame] for frame in answers] == [[], [1], []]
    assert [(t["track_id"], t["first_ms"], t["last_ms"], t["frames"]) for t in tracks.summary()] == [
        (1, 200.0, 200.0, 1)
    ]
