"""Faces and their crops for a list of images: the detector's step before the emotion model's queue."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from service.faces.crops import crop_faces
from service.faces.face import Face, FaceDetector

FoundFace = tuple[Face, torch.Tensor]


def whole_images(images: Sequence[torch.Tensor]) -> list[list[FoundFace]]:
    """`detect=false`: each image is one face, uncropped; no model runs."""
    return [[(Face.covering(image), image)] for image in images]


class FaceFinder:
    """A detector plus the crop rule; `find` runs on its own thread, never on the event loop."""

    def __init__(self, detector: FaceDetector, margin: float, align: bool) -> None:
        self.detector = detector
        self.margin = margin
        self.align = align

    @torch.inference_mode()
    def find(self, images: Sequence[torch.Tensor]) -> list[list[FoundFace]]:
        """Per image, its faces (best first) each with its square uint8 crop on the detector's device."""
        on_device = [image.to(self.detector.device, non_blocking=True) for image in images]
        found = []
        for image, faces in zip(on_device, self.detector.detect(on_device)):
            found.append(list(zip(faces, crop_faces(image, faces, self.margin, self.align))))
        return found

    def warmup(self) -> None:
        self.find([torch.full((480, 640, 3), 128, dtype=torch.uint8)])
