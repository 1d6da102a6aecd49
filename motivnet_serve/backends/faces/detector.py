"""Detector backends behind one `FaceDetector` contract, and the factory that picks one by name.

Images of the same size are stacked and run as batches; different sizes run one after another, since
padding would change what the convolutions see near the edges, and a face's answer must not depend on
which other images shared its call.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from motivnet_serve.backends.faces.boxes import select_faces
from motivnet_serve.backends.faces.face import DetectorSettings, Face, FaceDetector
from motivnet_serve.backends.faces.retinaface_mobilenet import load_mobilenet_backend
from motivnet_serve.backends.faces.retinaface_resnet import load_resnet_backend
from motivnet_serve.settings import DETECTOR_NAMES

log = logging.getLogger(__name__)

WEIGHT_FILES = {"retinaface": "retinaface.pth", "retinaface-mobilenet": "mobilenet0.25_Final.pth"}


@dataclass(frozen=True)
class InputScale:
    """Resizing for the network: short side to `short_side` (None: as is), long side at most `max_side`."""

    short_side: int | None
    max_side: int
    upscale: bool

    def factor(self, height: int, width: int) -> float:
        factor = 1.0 if self.short_side is None else self.short_side / min(height, width)
        if not self.upscale:
            factor = min(factor, 1.0)
        if round(factor * max(height, width)) > self.max_side:
            factor = self.max_side / max(height, width)
        return factor


# The MobileNet reference runs at the original size. The retina-face package brings the short side to 1024
# (long side at most 1980); we keep its `allow_upscaling=False` mode, because upscaling a 512-pixel photo
# costs a ResNet-50 four times the work (seconds per photo on a CPU) for faces a 512-pixel photo shows anyway.
MOBILENET_SCALE = InputScale(short_side=None, max_side=1920, upscale=False)
RESNET_SCALE = InputScale(short_side=1024, max_side=1980, upscale=False)
BATCH_PIXELS = 4_000_000
"""Most network-size pixels stacked into one detector call: its float activations stay bounded."""


class RetinaFaceDetector:
    """A RetinaFace backend (pixels -> candidates) plus resizing and face selection."""

    def __init__(
        self, name: str, backend: nn.Module, scale: InputScale, settings: DetectorSettings, device: torch.device
    ) -> None:
        self.name = name
        self.backend = backend
        self.scale = scale
        self.settings = settings
        self.device = device

    @torch.inference_mode()
    def detect(self, images: Sequence[torch.Tensor]) -> list[list[Face]]:
        """Each image is reduced to the network's size on its own, so at most one large original is ever
        held as float; reduced images of one size then run as batches of at most `BATCH_PIXELS`."""
        results: list[list[Face]] = [[] for _ in images]
        groups: dict[tuple[int, ...], list[tuple[int, torch.Tensor]]] = {}
        for index, image in enumerate(images):
            small = self._network_size(image.to(self.device, non_blocking=True))
            groups.setdefault(tuple(image.shape), []).append((index, small))
        for shape, members in groups.items():
            per_batch = max(1, BATCH_PIXELS // (members[0][1].shape[1] * members[0][1].shape[2]))
            for first in range(0, len(members), per_batch):
                chunk = members[first : first + per_batch]
                # One image keeps its pixels' channels-last layout (what the network runs in) with no copy.
                batch = chunk[0][1][None] if len(chunk) == 1 else torch.stack([small for _, small in chunk])
                for (index, _), faces in zip(chunk, self._detect_batch(batch, shape[:2])):
                    results[index] = faces
        return results

    def _network_size(self, image: torch.Tensor) -> torch.Tensor:
        """Float [3, h, w] at the network's scale."""
        height, width = image.shape[:2]
        pixels = image.permute(2, 0, 1).float()
        factor = self.scale.factor(height, width)
        if factor == 1.0:
            return pixels
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
        return F.interpolate(pixels[None], size=size, mode="bilinear", align_corners=False)[0]

    def _detect_batch(self, batch: torch.Tensor, original_hw: tuple[int, ...]) -> list[list[Face]]:
        """Boxes come back in the original images' pixels."""
        height, width = original_hw
        candidates = self.backend(batch)
        if batch.shape[2:] != (height, width):
            candidates = candidates.scaled(batch.shape[3] / width, batch.shape[2] / height)
        return select_faces(candidates, self.settings)


def detectors_dir(model_store: Path) -> Path:
    """Where detector weights live (git-ignored): `model_store/detectors/`."""
    return model_store / "detectors"


def resolve_detector_name(name: str, model_store: Path) -> str:
    """'auto' is the ResNet-50 when its weights and package are present, else the bundled MobileNet."""
    if name not in DETECTOR_NAMES:
        raise ValueError(f"unknown face detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")
    if name != "auto":
        return name
    resnet_ready = (detectors_dir(model_store) / WEIGHT_FILES["retinaface"]).is_file()
    if resnet_ready and importlib.util.find_spec("retinaface") is not None:
        return "retinaface"
    return "retinaface-mobilenet"


def build_detector(
    name: str, device: torch.device, model_store: Path, settings: DetectorSettings
) -> FaceDetector | None:
    """A ready detector on `device`: 'auto', 'retinaface' or 'retinaface-mobilenet'; None for 'none', which
    `FaceFinder` serves by its one no-detection path (each image one face)."""
    chosen = resolve_detector_name(name, model_store)
    if chosen == "none":
        return None
    loaders: dict[str, tuple[Callable[[Path, torch.device], nn.Module], InputScale]] = {
        "retinaface": (load_resnet_backend, RESNET_SCALE),
        "retinaface-mobilenet": (load_mobilenet_backend, MOBILENET_SCALE),
    }
    load, scale = loaders[chosen]
    backend = load(detectors_dir(model_store) / WEIGHT_FILES[chosen], device)
    log.info("face detector %r on %s", chosen, device)
    return RetinaFaceDetector(chosen, backend, scale, settings, device)
