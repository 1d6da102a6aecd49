"""An uploaded video opened with PyAV (FFmpeg's demuxers and decoders) and read frame by frame, upright.

Only the containers we promise reach FFmpeg, chosen by the file's first bytes and named to FFmpeg, so its
other demuxers (playlists that open further files, image sequences, ...) never see an upload. The declared
length and frame size are checked when the file is opened, before any frame is decoded.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, BinaryIO

import av
import numpy as np
import torch

from motivnet_serve.core.errors import (
    CorruptVideoError,
    FrameTooLargeError,
    FrameTooSmallError,
    NoVideoError,
    UnsupportedVideoError,
    VideoTooLongError,
)
from motivnet_serve.pipelines.sampling import Sampler

SUPPORTED = "MP4, MOV, WebM, MKV, AVI or animated GIF"
TRUNCATED_GAP_S = 1.0
"""How far short of its declared length a video may end before it counts as cut short."""
MIN_FRAME_SIDE = 16
"""Pixels a frame needs across and down for any face to fit in it (the detector's smallest is about this)."""


@dataclass(frozen=True)
class VideoLimits:
    """The longest video (by its declared length) and the largest frame a reader takes."""

    max_seconds: float
    max_frame_pixels: int


@dataclass(frozen=True)
class VideoFrame:
    """One sampled frame: its index among all decoded frames, its time from the first frame, its pixels."""

    index: int
    time_ms: float
    pixels: torch.Tensor


def demuxer_for(head: bytes) -> str | None:
    """FFmpeg's demuxer for a file that starts with `head` (12 bytes), or None when it is none we take."""
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return None


def upright(frame: av.VideoFrame) -> torch.Tensor:
    """HxWx3 uint8 RGB, turned as the container's display matrix says (phones store portrait video sideways)."""
    pixels: np.ndarray[Any, Any] = frame.to_ndarray(format="rgb24")
    turns = round((frame.rotation or 0) / 90) % 4
    if turns:
        pixels = np.ascontiguousarray(np.rot90(pixels, turns))
    return torch.from_numpy(pixels)


class VideoReader:
    """One open video; `frames` runs on a worker thread, never on the event loop. Close it when done."""

    def __init__(self, file: BinaryIO, limits: VideoLimits) -> None:
        self._limits = limits
        self._container = _open(file)
        try:
            self._stream = _video_stream(self._container)
            self.duration_s = _declared_seconds(self._container, self._stream)
            _check_declared(self._stream, self.duration_s, limits)
        except BaseException:
            self._container.close()
            raise
        self._stream.thread_type = "AUTO"
        self._video_end_s = _video_end_s(self._container, self._stream)

    @property
    def frame_rate(self) -> float:
        """Frames per second the container declares (30 when it does not say)."""
        rate = self._stream.average_rate or self._stream.guessed_rate
        return float(rate) if rate else 30.0

    def frames(self, sampler: Sampler) -> Generator[VideoFrame, None, None]:
        """Every frame the sampler keeps; a decoding failure is `corrupt_video`, however far in it comes."""
        origin: float | None = None
        index = -1
        end_s = 0.0
        try:
            for frame in self._container.decode(self._stream):
                index += 1
                time_s = frame.time if frame.time is not None else index / self.frame_rate
                origin = time_s if origin is None else origin
                self._check(frame, time_s - origin)
                end_s = time_s + _shown_s(frame)
                if sampler.take(time_s - origin):
                    yield VideoFrame(index, round((time_s - origin) * 1000, 1), upright(frame))
        except av.FFmpegError as exc:
            raise CorruptVideoError(f"the video could not be decoded after frame {index}: {exc}") from None
        if index < 0:
            raise CorruptVideoError("the video has no frame that could be decoded")
        self._check_complete(end_s)

    def close(self) -> None:
        self._container.close()

    def _check_complete(self, end_s: float) -> None:
        """A file whose last frame ends (on the file's timeline) long before the video declares it ends was cut
        short (an upload that stopped early): FFmpeg just stops there, so without this the answer would look
        whole."""
        declared = self._video_end_s
        if declared is not None and declared - end_s > max(TRUNCATED_GAP_S, 2 / self.frame_rate):
            raise CorruptVideoError(
                f"the video stops at {end_s:.1f} s but declares {declared:.1f} s: it was cut short; send the whole file"
            )

    def _check(self, frame: av.VideoFrame, time_s: float) -> None:
        """Limits again on what is decoded: a container may declare nothing, or less than it holds."""
        if time_s > self._limits.max_seconds:
            raise VideoTooLongError(f"the video runs past {self._limits.max_seconds:g} s; send a shorter clip")
        _check_size(frame.width, frame.height, self._limits)


def _shown_s(frame: av.VideoFrame) -> float:
    """How long the frame stays on screen (0 when the file does not say). Screen recorders and variable-rate
    cameras write no frame while the picture stands still, so a whole file's last frame may last seconds."""
    if not frame.duration or frame.time_base is None:
        return 0.0
    return float(frame.duration * frame.time_base)


def _open(file: BinaryIO) -> av.container.InputContainer:
    head = file.read(12)
    file.seek(0)
    if not head:
        raise NoVideoError("no video received: send a 'file' part, or the video as the body")
    demuxer = demuxer_for(head)
    if demuxer is None:
        raise UnsupportedVideoError(f"not a video in a supported container; send {SUPPORTED}")
    try:
        return av.open(file, mode="r", format=demuxer)
    except av.FFmpegError as exc:
        raise CorruptVideoError(f"the {demuxer} container could not be read (truncated or corrupt?): {exc}") from None


def _video_stream(container: av.container.InputContainer) -> av.VideoStream:
    """The first moving picture. Artwork (a music or podcast file's cover, marked `attached_pic`) is one still
    that FFmpeg lists as a video stream: taken as the video, it was analysed, then blamed as cut short."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise UnsupportedVideoError("the file has no video stream (audio only?); send a video")


def _declared_seconds(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    """The longest length the container or the stream declares, or None when neither does."""
    lengths = []
    if container.duration is not None:
        lengths.append(container.duration / av.time_base)
    if stream.duration is not None and stream.time_base is not None:
        lengths.append(float(stream.duration * stream.time_base))
    return max(lengths) if lengths else None


def _video_end_s(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    """Where the video declares it ends on the file's timeline, or None. A video need not start at 0 (a track
    that starts after the audio, a recording's clock): a stream's length counts from its start; a container's
    (used when the video is all it holds) already ends on the timeline, as MKV and WebM declare it."""
    if stream.duration is not None and stream.time_base is not None:
        return float(((stream.start_time or 0) + stream.duration) * stream.time_base)
    if container.duration is not None and len(container.streams) == 1:
        return float(container.duration / av.time_base)
    return None


def _check_declared(stream: av.VideoStream, duration_s: float | None, limits: VideoLimits) -> None:
    if duration_s is not None and duration_s > limits.max_seconds:
        raise VideoTooLongError(
            f"the video declares {duration_s:.0f} s; at most {limits.max_seconds:g} s allowed, send a shorter clip"
        )
    _check_size(stream.codec_context.width, stream.codec_context.height, limits)


def _check_size(width: int, height: int, limits: VideoLimits) -> None:
    if width * height > limits.max_frame_pixels:
        raise FrameTooLargeError(_too_large(width, height, limits.max_frame_pixels))
    if 0 < min(width, height) < MIN_FRAME_SIDE:
        raise FrameTooSmallError(f"frames are {width}x{height}; a face needs at least {MIN_FRAME_SIDE} pixels a side")


def _too_large(width: int, height: int, limit: int) -> str:
    return f"frames are {width}x{height} = {width * height} pixels; at most {limit} allowed"
