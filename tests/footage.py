"""Footage as cameras record it, made here from real photos: people walking in and out of the picture, cuts,
fades, shaking, occlusion. A frame is a stage (a real photo without a face as the room) with real faces cut
from photos placed on it, so each frame's true faces are known by construction.

Frames are small (320x240) so a whole corpus of clips is detected in seconds on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from tests.photos import photo_paths

SIZE = (320, 240)
PERSON_SIZE = (96, 116)
"""A head-and-shoulders cut of each photo, scaled so its face is about 60 pixels wide."""
PEOPLE = {  # photo: the head-and-shoulders window (x1, y1, x2, y2) around its hand-measured face
    "single_face.jpg": (128, 90, 445, 470),
    "astronaut.png": (150, 40, 300, 220),
    "0-f15-hao-ph.jpg": (60, 60, 440, 520),
}


@dataclass(frozen=True)
class Person:
    """One face on the stage: which photo, and where its cut's left-top corner is (may lie outside)."""

    name: str
    x: int
    y: int = 60

    def visible(self, size: tuple[int, int] = SIZE) -> bool:
        """Whether the whole cut is inside the frame (faces half out of it may or may not be found)."""
        return 0 <= self.x and self.x + PERSON_SIZE[0] <= size[0] and 0 <= self.y and self.y + PERSON_SIZE[1] <= size[1]

    def gone(self, size: tuple[int, int] = SIZE) -> bool:
        """Whether no part of the cut is in the frame."""
        return self.x >= size[0] or self.x + PERSON_SIZE[0] <= 0 or self.y >= size[1] or self.y + PERSON_SIZE[1] <= 0


@cache
def room(size: tuple[int, int] = SIZE) -> Image.Image:
    """The stage: scikit-image's coffee photo (a cup on a table, no face), filling the frame."""
    return Image.open(photo_paths()["coffee.png"]).convert("RGB").resize(size, Image.Resampling.BILINEAR)


@cache
def cut(name: str) -> Image.Image:
    photo = Image.open(photo_paths()[name]).convert("RGB")
    return photo.crop(PEOPLE[name]).resize(PERSON_SIZE, Image.Resampling.BILINEAR)


def frame(people: tuple[Person, ...] | list[Person], size: tuple[int, int] = SIZE) -> np.ndarray:
    """The room with these people on it, HxWx3 uint8 RGB."""
    picture = room(size).copy()
    for person in people:
        picture.paste(cut(person.name), (person.x, person.y))
    return np.asarray(picture)


def occluded(people: tuple[Person, ...]) -> np.ndarray:
    """The frame with a hand-sized dark card held over every face (only hair and shoulders show)."""
    pixels = frame(people).copy()
    for person in people:
        pixels[max(0, person.y) : person.y + 90, max(0, person.x) : person.x + PERSON_SIZE[0]] = 20
    return pixels


def faded(people: tuple[Person, ...], brightness: float) -> np.ndarray:
    return (frame(people).astype(np.float32) * brightness).round().astype(np.uint8)


def shaken(people: tuple[Person, ...], dx: int, dy: int) -> np.ndarray:
    """The whole picture moved by (dx, dy), edges repeated, as a hand-held camera jolts."""
    return np.roll(np.roll(frame(people), dy, axis=0), dx, axis=1)


def tiny(people: tuple[Person, ...], scale: float) -> np.ndarray:
    """The room with the people far away: each cut shrunk by `scale` where it stands."""
    picture = room().copy()
    for person in people:
        small = cut(person.name).resize((round(PERSON_SIZE[0] * scale), round(PERSON_SIZE[1] * scale)))
        picture.paste(small, (person.x, person.y))
    return np.asarray(picture)
