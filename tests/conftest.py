"""Shared fixtures: the reference facts in ../shared/reference and the tiny model folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference"
TINY_DIR = ROOT / "model_store" / "motivnet-tiny"


def _reference_file(name: str) -> Path:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference fixture {path} missing: clone beside the project's shared/ folder")
    return path


@pytest.fixture(scope="session")
def expected() -> dict:
    return json.loads(_reference_file("tiny/expected.json").read_text())


@pytest.fixture(scope="session")
def face_png() -> Path:
    return _reference_file("tiny/face.png")


@pytest.fixture(scope="session")
def face_rgb(face_png: Path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(face_png).convert("RGB")))


@pytest.fixture(scope="session")
def reference_pixels() -> torch.Tensor:
    """Upstream's resized and padded input, [1, 3, 1024, 768] float holding 0..255."""
    image = np.array(Image.open(_reference_file("tiny/face_preprocessed_uint8.png")).convert("RGB"))
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float()


@pytest.fixture(scope="session")
def manifest() -> dict:
    return json.loads(_reference_file("motivnet_1b_manifest.json").read_text())


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    return TINY_DIR
