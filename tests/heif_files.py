"""HEIC and AVIF files made at test time (no binary fixtures): 10-bit encodes, multi-image HEIC, bombs.

Both formats keep the picture's size in an `ispe` box of the container; a bomb is a small real file whose
`ispe` says it is huge, which is what a hostile upload looks like to a decoder that trusts the header."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
import pillow_heif
from PIL import Image

TEN_BIT_PIXI = b"pixi\x00\x00\x00\x00\x03\x0a\x0a\x0a"
"""The AVIF property that says three channels of 10 bits each."""


def declaring(data: bytes, width: int, height: int) -> bytes:
    """The same file with every `ispe` box declaring width x height (the coded picture stays small). Make
    `data` 64 x 64: x265 pads other sizes to its 64-pixel blocks and crops back with a `clap` box, which
    would crop the declared size too."""
    out = bytearray(data)
    at = out.find(b"ispe")
    assert at > 0, "no ispe box"
    while at > 0:
        out[at + 8 : at + 16] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
        at = out.find(b"ispe", at + 4)
    return bytes(out)


def heic_10bit(rgb16: np.ndarray) -> bytes:
    """A 10-bit HEIC of an HxWx3 uint16 picture (pillow-heif keeps 10 bits when asked for 16-bit input)."""
    height, width = rgb16.shape[:2]
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(width, height), data=rgb16.astype("<u2").tobytes())
    buffer = io.BytesIO()
    heif.save(buffer, quality=95)
    return buffer.getvalue()


def avif_10bit(rgb16: np.ndarray) -> bytes:
    """A 10-bit AVIF of an HxWx3 uint16 picture, through FFmpeg's SVT-AV1 and AVIF muxer (PyAV's wheel)."""
    with scheduling_kept():
        return _svt_avif(rgb16)


@contextmanager
def scheduling_kept() -> Iterator[None]:
    """SVT-AV1, run as root, switches the calling thread to SCHED_FIFO priority 99 and leaves it so; everything
    the test process starts afterwards inherits it (dockerd then cannot put runc into a container's cgroup:
    "unable to apply cgroup configuration"). The thread's policy is put back when the encoder is done."""
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        os.sched_setscheduler(0, policy, param)


def _svt_avif(rgb16: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="avif") as out:
        stream = out.add_stream("libsvtav1", rate=1)
        stream.height, stream.width = rgb16.shape[:2]
        stream.pix_fmt = "yuv420p10le"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb16.astype("<u2")), format="rgb48le")
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return buffer.getvalue()


def multi_image_heic(images: list[Image.Image], primary: int) -> bytes:
    """One HEIC holding several pictures (a burst), `primary` the one a viewer shows."""
    buffer = io.BytesIO()
    images[0].save(buffer, "HEIF", save_all=True, append_images=images[1:], primary_index=primary, quality=90)
    return buffer.getvalue()


def phone_copy(photo: Path, fmt: str, folder: Path) -> Path:
    """The photo saved again as a phone or browser would (HEIF or AVIF, quality 90), next to `folder`."""
    path = folder / f"{photo.stem}.{'heic' if fmt == 'HEIF' else 'avif'}"
    Image.open(photo).convert("RGB").save(path, fmt, quality=90)
    return path


def avif_coded_larger(side: int, declared: int = 64) -> bytes:
    """A flat AVIF whose AV1 stream codes side x side while its `ispe` declares declared x declared: libavif
    decodes at the coded size and scales down, so only the sequence header tells what decoding costs."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (128, 110, 90)).save(buffer, "AVIF", quality=80, speed=10)
    return declaring(buffer.getvalue(), declared, declared)
