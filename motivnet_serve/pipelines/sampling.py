"""Which decoded frames a video's analysis keeps: `fps` of them per second of video, by timestamp."""

from __future__ import annotations


class Sampler:
    """Keeps the first frame at or after each multiple of 1/fps seconds; `fps=0` keeps every frame.

    Timestamps, not frame counts, so variable-frame-rate phone videos are sampled evenly in time.
    """

    def __init__(self, fps: float) -> None:
        self._period = 1.0 / fps if fps > 0 else 0.0
        self._next_due = 0.0

    def take(self, time_s: float) -> bool:
        if time_s + 1e-6 < self._next_due:
            return False
        if self._period:
            self._next_due = (int(time_s / self._period + 1e-6) + 1) * self._period
        return True
