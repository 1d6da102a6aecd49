"""Shared fixtures: the reference facts in tests/fixtures/reference (see its README) and the tiny model folder."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.skip_policy import (  # noqa: F401 - the suite's skip rule, as hooks
    pytest_collection_modifyitems,
    pytest_collectreport,
    pytest_runtest_makereport,
)

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "fixtures" / "reference"
MODEL_STORE = ROOT / "model_store"
TINY_DIR = MODEL_STORE / "motivnet-tiny"


def _reference_file(name: str) -> Path:
    path = REFERENCE / name
    assert path.is_file(), f"reference fixture {path} is missing from the repository"
    return path


@pytest.fixture(scope="session")
def expected() -> dict:
    return json.loads(_reference_file("expected.json").read_text())


@pytest.fixture(scope="session")
def face_png() -> Path:
    return _reference_file("face.png")


@pytest.fixture(scope="session")
def face_rgb(face_png: Path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(face_png).convert("RGB")))


@pytest.fixture(scope="session")
def reference_pixels() -> torch.Tensor:
    """Upstream's resized and padded input, [1, 3, 1024, 768] float holding 0..255."""
    image = np.array(Image.open(_reference_file("face_preprocessed_uint8.png")).convert("RGB"))
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float()


@pytest.fixture(scope="session")
def manifest() -> dict:
    return json.loads(_reference_file("motivnet_1b_manifest.json").read_text())


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    return TINY_DIR


@pytest.fixture(scope="session")
def bundled_weights() -> Path:
    """The repository's model store with the bundled weights fetched into it, as `make setup` does
    (idempotent; the files are git-ignored)."""
    from motivnet_serve.backends.weights import REQUIRED, fetch_weights

    failed = [r for r in fetch_weights(MODEL_STORE, names=REQUIRED) if r.status == "failed"]
    assert not failed, f"fetch-weights failed: {failed}"
    return MODEL_STORE


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def face_image(face_png) -> Image.Image:
    return Image.open(face_png).convert("RGB")


@pytest.fixture(scope="session")
def photo_variants(face_image) -> dict[str, Image.Image]:
    """Different real pictures: crops and flips of the reference photo, so answers differ."""
    return {
        "face": face_image,
        "flipped": face_image.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "top": face_image.crop((0, 0, 512, 300)),
        "left": face_image.crop((0, 0, 260, 512)),
        "small": face_image.resize((200, 160)),
        "rotated": face_image.rotate(90, expand=True),
    }


@pytest.fixture(scope="session")
def expected_for(tiny_dir) -> Callable[[Image.Image], list[float]]:
    """The tiny model's probabilities for a picture, computed directly, without the service."""
    from motivnet_serve.backends.emotion.motivnet_predictor import MotivNetPredictor
    from motivnet_serve.backends.emotion.spec import load_model_spec

    predictor = MotivNetPredictor(load_model_spec(tiny_dir), torch.device("cpu"), torch.float32)

    def probabilities(image: Image.Image) -> list[float]:
        pixels = torch.from_numpy(np.array(image.convert("RGB")))
        return predictor.predict(predictor.preprocess([pixels]))[0].tolist()

    return probabilities
