"""Faces and their crops for a list of images: the detector's step before the emotion model's queue."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from motivnet_serve.backends.faces.crops import crop_faces
from motivnet_serve.backends.faces.face import Face, FaceDetector
from motivnet_serve.backends.faces.resize import shrink_to
from motivnet_serve.backends.faces.side_stream import SideStream
from motivnet_serve.backends.torch_runtime.upload import upload

FoundFace = tuple[Face, torch.Tensor]


def warmup_frame() -> torch.Tensor:
    """A mid-grey 640x480 camera frame: what the detector and the model first meet, before any request."""
    return torch.full((480, 640, 3), 128, dtype=torch.uint8)


class FaceFinder:
    """A detector plus the crop rule; `find` runs on its own thread, never on the event loop.

    Args:
        detector: finds the faces; None (the `none` detector): every image is one face, as with `whole`.
        margin: how much the square crop grows around the box.
        align: rotate crops so the eyes lie level.
        max_crop_side: crops and whole images are reduced to at most this side before they queue, so
            what waits for the model is bounded whatever the upload (images within it stay untouched).
    """

    def __init__(self, detector: FaceDetector | None, margin: float, align: bool, max_crop_side: int) -> None:
        self.detector = detector
        self.margin = margin
        self.align = align
        self.max_crop_side = max_crop_side
        self.side_stream = SideStream(detector.device if detector else torch.device("cpu"))

    @property
    def name(self) -> str:
        """The detector's name, as `/v1/models` reports it ('none' without one)."""
        return self.detector.name if self.detector else "none"

    @torch.inference_mode()
    def find(self, images: Sequence[torch.Tensor]) -> list[list[FoundFace]]:
        """Per image, its faces (best first) each with its square uint8 crop on the detector's device.

        On CUDA this runs on the finder's own stream; the crops are handed over to the default stream
        (where the emotion model runs) before returning.
        """
        if self.detector is None:
            return self.whole(images)
        with self.side_stream.running():
            found = self._find(self.detector, images)
        self.side_stream.hand_over(crop for faces in found for _, crop in faces)
        return found

    def _find(self, detector: FaceDetector, images: Sequence[torch.Tensor]) -> list[list[FoundFace]]:
        on_device = [upload(image, detector.device) for image in images]
        found = []
        for image, faces in zip(on_device, detector.detect(on_device)):
            crops = crop_faces(image, faces, margin=self.margin, align=self.align)
            height, width = image.shape[:2]
            found.append(
                [(face.within(width, height), shrink_to(crop, self.max_crop_side)) for face, crop in zip(faces, crops)]
            )
        return found

    def whole(self, images: Sequence[torch.Tensor]) -> list[list[FoundFace]]:
        """No detection (`detect=false`, or the `none` detector): each image is one face, reduced like a crop
        and marked `whole_image`, so its answer carries no box or score; no model runs."""
        return [[(Face.covering(image), shrink_to(image, self.max_crop_side))] for image in images]

    def warmup(self) -> None:
        self.find([warmup_frame()])
