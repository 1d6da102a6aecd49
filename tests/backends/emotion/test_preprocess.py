"""Our tensor preprocessing against upstream's pixels and against OpenCV's INTER_LINEAR, independently."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from motivnet_serve.backends.emotion.preprocess import Preprocessor
from motivnet_serve.backends.emotion.spec import Architecture, Preprocess

CPU = torch.device("cpu")


def _preprocessor(mode: str = "letterbox") -> Preprocessor:
    return Preprocessor(Preprocess(mode=mode), Architecture(), CPU, torch.float32)


def _opencv_letterbox(rgb: np.ndarray) -> np.ndarray:
    """The authors' rule written with OpenCV: resize to 768x768, pad 128 white rows top and bottom."""
    resized = cv2.resize(rgb, (768, 768), interpolation=cv2.INTER_LINEAR)
    return cv2.copyMakeBorder(resized, 128, 128, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))


def _ours(rgb: np.ndarray, mode: str = "letterbox") -> np.ndarray:
    pixels = _preprocessor(mode).pixels([torch.from_numpy(rgb)])[0]
    return pixels.permute(1, 2, 0).numpy()


def test_matches_upstream_pixels(face_rgb, reference_pixels):
    difference = (_preprocessor().pixels([face_rgb]) - reference_pixels).abs()
    assert difference.max() <= 1
    assert difference.mean() <= 0.25


@pytest.fixture(scope="module")
def large_non_square(face_png) -> np.ndarray:
    """A real photo at 1300x900 (larger than 768 on both sides, and not square)."""
    return np.array(Image.open(face_png).convert("RGB").resize((1300, 900), Image.Resampling.LANCZOS))


@pytest.mark.parametrize("size", [(1300, 900), (500, 333), (900, 1300)])
def test_matches_opencv_on_other_sizes(face_png, size):
    rgb = np.array(Image.open(face_png).convert("RGB").resize(size, Image.Resampling.LANCZOS))
    difference = np.abs(_ours(rgb).astype(np.int16) - _opencv_letterbox(rgb).astype(np.int16))
    assert difference.max() <= 1
    assert difference.mean() <= 0.25


def test_stretch_mode_resizes_to_full_input(large_non_square):
    expected = cv2.resize(large_non_square, (768, 1024), interpolation=cv2.INTER_LINEAR)
    difference = np.abs(_ours(large_non_square, "stretch").astype(np.int16) - expected.astype(np.int16))
    assert difference.max() <= 1
    assert difference.mean() <= 0.25


def test_normalisation_uses_config_constants(face_rgb):
    preprocessor = _preprocessor()
    normalized = preprocessor([face_rgb])
    white = (255 - torch.tensor([123.5, 116.5, 103.5])) / torch.tensor([58.5, 57.0, 57.5])
    assert normalized.shape == (1, 3, 1024, 768)
    assert torch.allclose(normalized[0, :, 0, 0], white)
    assert torch.allclose(normalized[0, :, 1023, 767], white)


def test_batch_of_mixed_sizes_equals_one_by_one(face_rgb, large_non_square):
    preprocessor = _preprocessor()
    other = torch.from_numpy(large_non_square)
    batch = preprocessor([face_rgb, other])
    assert torch.equal(batch[0], preprocessor([face_rgb])[0])
    assert torch.equal(batch[1], preprocessor([other])[0])
