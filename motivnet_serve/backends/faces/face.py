"""What a face detector promises: the `Face` it reports, its settings, and the `FaceDetector` protocol.

Landmarks are named from the subject's side, as RetinaFace's training annotations order them: in a frontal
photo the subject's right eye is the one on the image's left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch
from pydantic import BaseModel, ConfigDict, Field

LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")


@dataclass(frozen=True)
class Face:
    """One face in original-image pixels.

    `whole_image` marks the stand-in face of the `none` detector: its box is the whole image only so that
    cropping stays one code path; answers report its box and score as null (see `as_dict`).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)
    whole_image: bool = False

    @classmethod
    def covering(cls, image: torch.Tensor) -> Face:
        height, width = image.shape[:2]
        return cls(box=(0.0, 0.0, float(width), float(height)), score=1.0, whole_image=True)

    def within(self, width: int, height: int) -> Face:
        """The face with its box clipped to a width x height image. The detector's box runs past the frame when
        the frame cuts the face (a tight portrait); clients slice pixels with it, where a negative index wraps
        around. Crops are taken before this, around the whole face the detector estimated."""
        x1, y1, x2, y2 = self.box
        box = (min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height))
        return self if box == self.box else replace(self, box=box)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: box [x1, y1, x2, y2], score and landmarks, all null for a whole-image stand-in."""
        if self.whole_image:
            return {"box": None, "score": None, "landmarks": None}
        return {
            "box": [round(v, 2) for v in self.box],
            "score": round(self.score, 4),
            "landmarks": {name: [round(x, 2), round(y, 2)] for name, (x, y) in self.landmarks.items()},
        }


class DetectorSettings(BaseModel):
    """Knobs shared by every detector backend. The four thresholds have no defaults here: their defaults and
    ranges are the service settings' (`MOTIVNET_DETECTOR_*`), and `core.loading.detector_settings` copies them
    in, so a default is written once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score_threshold: float = Field(description="Lowest face probability kept.")
    nms_iou: float = Field(description="Overlap above which the weaker of two boxes goes.")
    min_face_px: float = Field(description="Faces whose box has a shorter side (original pixels) are dropped.")
    max_faces: int = Field(description="Most faces reported per image, best first.")
    max_candidates: int = Field(
        1000, ge=1, description="Best-scoring boxes per image that enter NMS; bounds its N x N overlap matrix."
    )


class FaceDetector(Protocol):
    """Finds faces; runs on the worker thread like a predictor, never on the event loop."""

    name: str
    device: torch.device

    def detect(self, images: Sequence[torch.Tensor]) -> list[list[Face]]:
        """HxWx3 uint8 RGB images (any device, any sizes) -> for each image its faces, best score first."""
        ...
