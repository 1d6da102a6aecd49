"""Moving pictures of real faces, made from a photo in the test: a slow pan across it.

The webcam test feeds the pan to Chromium's fake camera as a Y4M file (raw I420 frames, written here with
Pillow alone); the video test uploads it as a WebM (VP8) made with PyAV, which Chromium also plays back.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def pan(photo: Path, size: tuple[int, int], count: int) -> list[Image.Image]:
    """`count` frames of `size`, each a window of the photo (80% of its width) moving left to right."""
    image = Image.open(photo).convert("RGB")
    width = int(image.width * 0.8)
    height = min(image.height, int(width * size[1] / size[0]))
    top = (image.height - height) // 2
    steps = max(1, count - 1)
    frames = []
    for index in range(count):
        left = (image.width - width) * index // steps
        frames.append(image.crop((left, top, left + width, top + height)).resize(size, Image.Resampling.BILINEAR))
    return frames


def write_y4m(path: Path, frames: list[Image.Image], fps: int) -> Path:
    """YUV4MPEG2 with 4:2:0 chroma, the format Chromium's `--use-file-for-fake-video-capture` reads."""
    width, height = frames[0].size
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            luma, blue, red = frame.convert("YCbCr").split()
            half = (width // 2, height // 2)
            out.write(b"FRAME\n" + luma.tobytes())
            out.write(blue.resize(half, Image.Resampling.BILINEAR).tobytes())
            out.write(red.resize(half, Image.Resampling.BILINEAR).tobytes())
    return path


def write_webm(path: Path, frames: list[Image.Image], fps: int) -> Path:
    """VP8 in WebM: decoded by the service's PyAV and played by Chromium's <video>."""
    import av  # the video endpoint's dependency (issue 14)

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode(None))
    return path
