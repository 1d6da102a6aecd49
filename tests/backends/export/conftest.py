"""Fixtures for the export tests: the faces the service finds in real photos, cropped as it crops them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from motivnet_serve.core.loading import build_finder
from motivnet_serve.settings import Settings
from tests.photos import load_photo, photo_paths

FACE_PHOTOS = ("multi_face.jpg", "single_face.jpg", "0-f15-hao-ph.jpg", "astronaut.png")


@pytest.fixture(scope="session")
def face_photos() -> list[torch.Tensor]:
    paths = photo_paths()
    return [load_photo(paths[name]) for name in FACE_PHOTOS]


@pytest.fixture(scope="session")
def face_crops(bundled_weights: Path, face_photos: list[torch.Tensor]) -> list[torch.Tensor]:
    """Every face the bundled detector finds (8 in these photos), cut with the service's default crop rule."""
    settings = Settings.from_flat(detector="retinaface-mobilenet", model_store=bundled_weights)
    finder = build_finder(
        settings.detector, settings.model_store, torch.device("cpu"), (1024, 768)
    )  # crops as large as MotivNet keeps them
    return [crop for found in finder.find(face_photos) for _, crop in found]
