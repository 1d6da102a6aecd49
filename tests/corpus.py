"""The footage corpus: each event real cameras produce, as frames whose true faces are known (tests/footage.py),
with the answer any path must give, and written as a clip in two containers. Made on demand, never committed.

Clips run at 10 frames/s and are analysed at 5 (`SAMPLE_FPS`), so sampling by timestamp is always exercised.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from tests.clips import encode, rotated_mov
from tests.footage import SIZE, Person, faded, frame, occluded, shaken, tiny

RATE = 10
SAMPLE_FPS = 5
VP8_FAST = {"deadline": "realtime", "cpu-used": "8"}
"""libvpx at its quickest: its default (best quality) takes most of a corpus's time to encode."""
A, B, C = "single_face.jpg", "astronaut.png", "0-f15-hao-ph.jpg"
THREE = (Person(A, 5), Person(B, 112), Person(C, 219))


@dataclass(frozen=True)
class Shot:
    """One frame: who stands in it, how many faces any detector must find (at least, at most), its pixels."""

    people: tuple[Person, ...]
    faces: tuple[int, int]
    pixels: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Event:
    """One kind of footage and its stated answer: per frame the faces in `Shot.faces`, and `tracks` (at least,
    at most) tracks in the summary."""

    name: str
    shots: list[Shot]
    tracks: tuple[int, int]
    times: list[float] | None = None
    """Each frame's time in seconds; None: evenly at `RATE`."""
    size: tuple[int, int] = SIZE

    def time_of(self, index: int) -> float:
        return self.times[index] if self.times is not None else index / RATE


def seen(people: tuple[Person, ...], size: tuple[int, int] = SIZE) -> Shot:
    """People in plain view: each whole face must be found, a face partly out of the frame may be."""
    whole = sum(person.visible(size) for person in people)
    return Shot(people, (whole, sum(not person.gone(size) for person in people)), frame(people, size))


def hidden(people: tuple[Person, ...], pixels: np.ndarray, faces: tuple[int, int] = (0, 0)) -> Shot:
    return Shot(people, faces, pixels)


ONE = (Person(A, 110),)
EVENTS: dict[str, Callable[[], Event]] = {
    "walk_through": lambda: Event("walk_through", [seen((Person(A, 330 - 22 * i),)) for i in range(20)], (1, 1)),
    "cut_in_and_out": lambda: Event("cut_in_and_out", [seen(())] * 6 + [seen(ONE)] * 8 + [seen(())] * 6, (1, 1)),
    "all_leave_and_come_back": lambda: Event(
        "all_leave_and_come_back", [seen(THREE)] * 6 + [seen(())] * 6 + [seen(THREE)] * 6, (3, 3)
    ),
    "all_leave_for_long": lambda: Event(
        "all_leave_for_long", [seen(THREE)] * 4 + [seen(())] * 16 + [seen(THREE)] * 4, (6, 6)
    ),
    "one_of_three_leaves": lambda: Event(
        "one_of_three_leaves", [seen((*THREE[:2], Person(C, 219 + 12 * i))) for i in range(16)], (3, 3)
    ),
    "occluded": lambda: Event("occluded", [seen(ONE)] * 6 + [hidden(ONE, occluded(ONE))] * 4 + [seen(ONE)] * 6, (1, 1)),
    "scene_cut": lambda: Event(
        "scene_cut", [seen((Person(A, 40),))] * 10 + [hidden((), _other_photo(), (1, 1))] * 10, (2, 2)
    ),
    "fade_to_black": lambda: Event("fade_to_black", [_fade(ONE, i) for i in range(20)], (1, 1)),
    "tiny_and_partial": lambda: Event("tiny_and_partial", _tiny_and_partial(), (0, 3)),
    "camera_shake": lambda: Event("camera_shake", _shaking(ONE, 16), (1, 1)),
    "variable_frame_rate": lambda: Event("variable_frame_rate", *_variable_rate(ONE)),
    "one_frame": lambda: Event("one_frame", [seen(ONE)], (1, 1)),
    "one_second": lambda: Event("one_second", [seen(ONE)] * RATE, (1, 1)),
    "odd_size_853x480": lambda: Event(
        "odd_size_853x480", [seen((Person(A, 380, 180),), (853, 480))] * 6, (1, 1), size=(853, 480)
    ),
}
"""Every event of the corpus by name, in the order the issue lists them, made when asked for."""


def _fade(people: tuple[Person, ...], index: int) -> Shot:
    brightness = max(0.0, 1 - index / 15)
    faces = (1, 1) if brightness >= 0.8 else (0, 0) if brightness <= 0.05 else (0, 1)
    return hidden(people, faded(people, brightness), faces)


def _tiny_and_partial() -> list[Shot]:
    far = (Person(A, 150, 110),)
    return [
        *[hidden(far, tiny(far, 0.15), (0, 1))] * 6,
        *[seen((Person(A, -60),))] * 5,
        *[seen((Person(A, 290),))] * 5,
    ]


def _shaking(people: tuple[Person, ...], count: int) -> list[Shot]:
    jolts = np.random.default_rng(18).integers(-12, 13, size=(count, 2))
    return [hidden(people, shaken(people, int(dx), int(dy)), (1, 1)) for dx, dy in jolts]


def _variable_rate(people: tuple[Person, ...]) -> tuple[list[Shot], tuple[int, int], list[float]]:
    """A phone's variable frame rate: bursts and gaps; the person leaves after the seventh frame."""
    times = [0.0, 0.03, 0.1, 0.12, 0.3, 0.31, 0.5, 0.7, 0.72, 0.9, 1.3, 1.33, 1.6]
    return [seen(people)] * 7 + [seen(())] * 6, (1, 1), times


def _other_photo() -> np.ndarray:
    """A hard cut to another photo altogether: the astronaut, filling the frame."""
    from PIL import Image

    from tests.photos import photo_paths

    photo = Image.open(photo_paths()[B]).convert("RGB").crop((0, 64, 512, 448))
    return np.asarray(photo.resize(SIZE, Image.Resampling.BILINEAR))


def clips(event: Event) -> dict[str, bytes]:
    """The event as MP4/H.264 and as WebM/VP8 (containers and codecs the issue asks for)."""
    views = [shot.pixels for shot in event.shots]
    pix_fmt = "yuv444p" if event.size[0] % 2 or event.size[1] % 2 else "yuv420p"
    if event.times is not None:
        return {
            "mp4": timed(views, event.times, "mp4", "libx264", pix_fmt),
            "webm": timed(views, event.times, "webm", "libvpx", "yuv420p"),
        }
    return {
        "mp4": encode(views, rate=RATE, pix_fmt=pix_fmt),
        "webm": encode(views, container="webm", codec="libvpx", rate=RATE, **VP8_FAST),
    }


def timed(views: list[np.ndarray], times: list[float], container: str, codec: str, pix_fmt: str) -> bytes:
    """Frames at the given times (milliseconds apart, as phones stamp them), not at a fixed rate."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(
            codec, rate=RATE, options={"preset": "ultrafast"} if codec == "libx264" else VP8_FAST
        )
        stream.height, stream.width = views[0].shape[:2]
        stream.pix_fmt, stream.codec_context.time_base = pix_fmt, Fraction(1, 1000)
        for view, time_s in zip(views, times):
            picture = av.VideoFrame.from_ndarray(view, format="rgb24")
            picture.pts, picture.time_base = round(time_s * 1000), Fraction(1, 1000)
            output.mux(stream.encode(picture))
        output.mux(stream.encode())
    return buffer.getvalue()


def with_b_frames(event: Event) -> dict[str, bytes]:
    """H.264 with B-frames, so packets come in decoding order with reordered timestamps (MP4 and MKV)."""
    views = [shot.pixels for shot in event.shots]
    options = {"preset": "veryfast", "x264-params": "bframes=3:b-adapt=0"}
    return {
        "mp4": encode(views, rate=RATE, **options),
        "mkv": encode(views, container="matroska", rate=RATE, **options),
    }


def rotated(event: Event, degrees: int) -> dict[str, bytes]:
    """Stored sideways or upside down, with the display matrix that turns it upright (MP4 and MOV)."""
    turns = {90: 1, 180: 2, 270: 3}[degrees]  # counter-clockwise, undone by the matrix's clockwise turn
    views = [np.ascontiguousarray(np.rot90(shot.pixels, turns)) for shot in event.shots]
    return {
        "mp4": rotated_mov(encode(views, rate=RATE), degrees),
        "mov": rotated_mov(encode(views, container="mov", rate=RATE), degrees),
    }
