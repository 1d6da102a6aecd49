"""Track ids for the faces of one video or live session, from ByteTrack as Roboflow's `trackers` implements it.

Why `trackers` 2.1: it is Roboflow's maintained home of ByteTrack (supervision moved its tracker there), and
its 2.1 line needs only numpy, scipy and supervision (which no longer requires OpenCV). Later `trackers`
releases require `opencv-python`, a second OpenCV wheel beside the detector's `opencv-contrib-python-headless`,
and `norfair` pins numpy below 2, which the rest of the stack has left; so the pin is `trackers==2.1.0`.

Three adaptations, all outside the library's association logic: ByteTrack gives a new track its id only when
it is matched again one frame later, and its ids come from a process-wide counter. Here a face has its id on
the frame it first appears in, and each session numbers its tracks 1, 2, 3, ... ByteTrack answers a frame
without a face with detections that carry none of our per-face data, so the frame's ids come from the
detections it returns, never from what it might have kept. And the lost-track buffer is counted in frames of
the rate given, at least one, so a track survives `LOST_TRACK_SECONDS` whatever the sampling rate.

Returning faces: a face that comes back within `LOST_TRACK_SECONDS`, near where its track expected it, keeps
its id; later, or elsewhere, it is a new track with a new id.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker
from trackers.core.bytetrack.kalman_box_tracker import ByteTrackKalmanBoxTracker

Box = tuple[float, float, float, float]

LOST_TRACK_SECONDS = 1.0
"""How long a track waits for its face to come back (turned away, hidden) before a new id is given."""


class FaceTracker:
    """Assigns each frame's face boxes their track ids; frames must come in order.

    Args:
        frame_rate: frames per second given to `assign` (sampled frames for a video, camera rate for a stream).
        min_score: detector confidence a face needs to start a track (the detector's own threshold).
    """

    def __init__(self, frame_rate: float, min_score: float) -> None:
        self._tracker = ByteTrackTracker(
            frame_rate=frame_rate,
            track_activation_threshold=min_score,
            high_conf_det_threshold=min_score,
            minimum_consecutive_frames=1,
        )
        # the library rounds `frame_rate / 30 * buffer` down, to 0 below 1 frame/s (every track dying at once)
        self._tracker.maximum_frames_without_update = max(1, round(LOST_TRACK_SECONDS * frame_rate))
        self._local: dict[int, int] = {}

    def assign(self, boxes: Sequence[Box], scores: Sequence[float]) -> list[int]:
        """The track id of each box, in the order given; any sequence of boxes, none included, is a frame.

        A box the tracker did not hand back (it returns none at all when a frame has no face) starts a track of
        its own, so every face has an id and an empty frame only ages the tracks."""
        detections = sv.Detections(
            xyxy=np.array(boxes, dtype=np.float32).reshape(-1, 4),
            confidence=np.array(scores, dtype=np.float32),
            data={"face": np.arange(len(boxes))},
        )
        tracked = self._tracker.update(detections)
        self._name_new_tracks(tracked)
        ids: list[int] = [-1] * len(boxes)
        if len(tracked) and tracked.tracker_id is not None:
            for face, global_id in zip(tracked.data["face"], tracked.tracker_id):
                ids[int(face)] = int(global_id)
        return [self._local_id(global_id) for global_id in ids]

    def _name_new_tracks(self, tracked: sv.Detections) -> None:
        """Tracks born on this frame get their id now, each matched to the detection it was started from."""
        newborn = [t for t in self._tracker.tracks if t.tracker_id == -1 and t.time_since_update == 0]
        tracker_ids = tracked.tracker_id
        if tracker_ids is None:
            return
        for track in newborn:
            state = track.get_state_bbox().ravel()
            for row in np.flatnonzero(tracker_ids == -1):
                if np.allclose(tracked.xyxy[row], state, atol=1e-3):
                    track.tracker_id = ByteTrackKalmanBoxTracker.get_next_tracker_id()
                    tracker_ids[row] = track.tracker_id
                    break

    def _local_id(self, global_id: int) -> int:
        if global_id < 0:
            global_id = ByteTrackKalmanBoxTracker.get_next_tracker_id()
        return self._local.setdefault(global_id, len(self._local) + 1)
