"""Test videos made here with PyAV from real photos: a slow pan and zoom over a group photo, and broken or
oversized files. Nothing is committed; each clip is written to a bytes buffer on demand."""

from __future__ import annotations

import io
import struct
from fractions import Fraction

import av
import numpy as np
import torch
from PIL import Image

from tests.photos import load_photo, photo_paths


def pan_and_zoom(photo: torch.Tensor, frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """`frames` views of `photo` (HxWx3 uint8), each `size` (width, height): the window starts wide and closes
    in by a fifth while drifting right, as a slow camera move would."""
    image = Image.fromarray(photo.numpy())
    width, height = image.size
    out_w, out_h = size
    views = []
    for index in range(frames):
        progress = index / max(1, frames - 1)
        view_w = min(width, height * out_w / out_h) * (1.0 - 0.2 * progress)
        view_h = view_w * out_h / out_w
        x0, y0 = (width - view_w) * (0.3 + 0.4 * progress), (height - view_h) / 2
        view = image.resize(size, Image.Resampling.BILINEAR, box=(x0, y0, x0 + view_w, y0 + view_h))
        views.append(np.asarray(view))
    return views


def encode(
    views: list[np.ndarray],
    container: str = "mp4",
    codec: str = "libx264",
    rate: int = 25,
    pix_fmt: str = "yuv420p",
    muxer_options: dict[str, str] | None = None,
    **options: str,
) -> bytes:
    """The views as a video file, in memory (x264 at its fastest preset: tests make many clips)."""
    if codec == "libx264":
        options = {"preset": "ultrafast", **options}
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container, options=muxer_options or {}) as output:
        stream = output.add_stream(codec, rate=rate, options=options)
        stream.height, stream.width = views[0].shape[:2]
        stream.pix_fmt = pix_fmt
        for view in views:
            for packet in stream.encode(av.VideoFrame.from_ndarray(view, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def timed_clip(
    views: list[np.ndarray], rate: int, *, start_s: float = 0.0, hold_s: float = 0.0, container: str = "mp4"
) -> bytes:
    """The views at `rate` frames/s as H.264, the first at `start_s` on the file's timeline (a clip cut from a
    longer recording that keeps its clock), the last shown `hold_s` seconds more (screen recorders and
    variable-frame-rate cameras write no new frame while the picture stands still)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream("libx264", rate=rate, options={"preset": "ultrafast", "bf": "0"})
        stream.height, stream.width = views[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        packets = []
        for index, view in enumerate(views):
            frame = av.VideoFrame.from_ndarray(view, format="rgb24")
            frame.pts, frame.time_base = round((start_s + index / rate) * 1000), Fraction(1, 1000)
            packets += stream.encode(frame)
        packets += stream.encode()
        packets[-1].duration = round((1 / rate + hold_s) / packets[-1].time_base)
        for packet in packets:
            output.mux(packet)
    return buffer.getvalue()


def group_clip(seconds: float = 3.0, rate: int = 25, size: tuple[int, int] = (640, 360), **kwargs) -> bytes:
    """The five-person group photo of `tests.photos`, panned and zoomed, as H.264 MP4 by default."""
    photo = load_photo(photo_paths()["multi_face.jpg"])
    return encode(pan_and_zoom(photo, round(seconds * rate), size), rate=rate, **kwargs)


def rotated_mov(clip: bytes, degrees_clockwise: int = 90) -> bytes:
    """The MOV/MP4 `clip` with its track's display matrix turned, as a phone writes portrait video."""
    data = bytearray(clip)
    matrix_at = data.index(b"tkhd") - 4 + 48
    one = 1 << 16
    matrices = {90: (0, one, 0, -one, 0, 0), 270: (0, -one, 0, one, 0, 0), 180: (-one, 0, 0, 0, -one, 0)}
    data[matrix_at : matrix_at + 36] = struct.pack(">9i", *matrices[degrees_clockwise], 0, 0, 1 << 30)
    return bytes(data)


def audio_only(cover: np.ndarray | None = None) -> bytes:
    """One second of silence in MP4; with `cover` (HxWx3 uint8) also its artwork, as music and podcast files
    carry it: FFmpeg lists artwork as a one-picture video stream marked `attached_pic`."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as output:
        stream = output.add_stream("aac", rate=16000)
        if cover is not None:
            _add_artwork(output, cover)
        samples = np.zeros((1, 16000), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            output.mux(packet)
    return buffer.getvalue()


def _add_artwork(output: av.container.OutputContainer, cover: np.ndarray) -> None:
    artwork = output.add_stream("mjpeg", rate=1)
    artwork.height, artwork.width = cover.shape[:2]
    artwork.pix_fmt = "yuvj420p"
    artwork.disposition = av.stream.Disposition.attached_pic
    for packet in [*artwork.encode(av.VideoFrame.from_ndarray(cover, format="rgb24")), *artwork.encode()]:
        output.mux(packet)


def declared_long(hours: float) -> bytes:
    """Two small frames `hours` apart in MKV: a tiny file that declares a very long video."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as output:
        stream = output.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuvj420p"
        for seconds in (0, hours * 3600):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 128, np.uint8), format="rgb24")
            frame.pts, frame.time_base = int(seconds * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def declared_size(width: int, height: int) -> bytes:
    """One uniform frame of `width`x`height` in MKV (MJPEG keeps even 8K small and quick to make)."""
    frame = np.full((height, width, 3), 90, np.uint8)
    return encode([frame], container="matroska", codec="mjpeg", rate=1, pix_fmt="yuvj420p")
