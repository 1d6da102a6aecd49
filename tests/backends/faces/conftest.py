"""Fixtures for the face tests: real photos and real weights, fetched once per session as a user would."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from motivnet_serve.backends.faces.detector import build_detector
from motivnet_serve.backends.faces.face import FaceDetector
from motivnet_serve.core.loading import detector_settings
from motivnet_serve.settings import Settings
from tests.photos import load_photo, photo_paths


@pytest.fixture(scope="session")
def model_store(bundled_weights: Path) -> Path:
    return bundled_weights


@pytest.fixture(scope="session")
def photos() -> dict[str, torch.Tensor]:
    return {name: load_photo(path) for name, path in photo_paths().items()}


@pytest.fixture(scope="session")
def photo_files() -> dict[str, Path]:
    return photo_paths()


@pytest.fixture(scope="session")
def mobilenet(model_store: Path) -> FaceDetector:
    thresholds = detector_settings(Settings().detector)
    return build_detector("retinaface-mobilenet", torch.device("cpu"), model_store, thresholds)
