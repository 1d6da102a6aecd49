"""Video and live-stream numbers against a running server: a clip analysed against its real-time rate, live
sessions at a camera's frame rate, and a photo's latency while a video is being analysed."""

from __future__ import annotations

import asyncio
import io
import json
import statistics
import time
from dataclasses import dataclass, field

import httpx
from PIL import Image
from websockets.asyncio.client import connect

from bench.load import _percentile
from tests.clips import group_clip

FACE_PHOTO = "bench/data/astronaut.jpg"


@dataclass
class VideoResult:
    clip_seconds: float
    sampled_frames: int
    faces: int
    seconds: float
    first_line_ms: float
    frames_per_s: float
    faces_per_s: float
    realtime_ratio: float


@dataclass
class StreamResult:
    sessions: int
    target_fps: float
    seconds: float
    fps_per_session: float
    p50_ms: float
    p99_ms: float
    skipped_share: float
    errors: int


@dataclass
class SharingResult:
    photo_idle_p50_ms: float
    photo_during_video_p50_ms: float
    ratio: float
    stream_idle_p50_ms: float
    stream_during_video_p50_ms: float


def make_clip(seconds: float) -> bytes:
    """640x360 at 25 frames/s: a slow pan and zoom over a five-person group photo (as the tests make it)."""
    return group_clip(seconds=seconds, rate=25, size=(640, 360))


def camera_frame() -> bytes:
    """A 640x480 JPEG with one face: the bundled astronaut photo, letterboxed as a webcam frame."""
    photo = Image.open(FACE_PHOTO).convert("RGB")
    frame = Image.new("RGB", (640, 480), (40, 40, 40))
    frame.paste(photo.resize((480, 480)), (80, 0))
    buffer = io.BytesIO()
    frame.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


async def analyse_clip(url: str, clip: bytes, clip_seconds: float, fps: float) -> VideoResult:
    """One POST /v1/video, timed from the request to the summary line."""
    frames = faces = 0
    first_ms = float("nan")
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        start = time.perf_counter()
        request = client.stream(
            "POST", "/v1/video", params={"fps": fps}, content=clip, headers={"content-type": "video/mp4"}
        )
        async with request as response:
            async for line in response.aiter_lines():
                answer = json.loads(line)
                if "frame" in answer:
                    first_ms = first_ms if frames else (time.perf_counter() - start) * 1000
                    frames, faces = frames + 1, faces + len(answer["faces"])
                elif "error" in answer:
                    raise RuntimeError(answer["error"])
        seconds = time.perf_counter() - start
    return VideoResult(
        clip_seconds, frames, faces, seconds, first_ms, frames / seconds, faces / seconds, clip_seconds / seconds
    )


@dataclass
class SessionLog:
    """One camera's replies: client-side latencies (s) of answered frames, skipped and failed frames."""

    latencies: list[float] = field(default_factory=list)
    skipped: int = 0
    errors: int = 0

    def add(self, reply: dict, sent_at: float) -> None:
        if reply.get("skipped"):
            self.skipped += 1
        elif "error" in reply:
            self.errors += 1
        else:
            self.latencies.append(time.perf_counter() - sent_at)


async def live_session(url: str, frame: bytes, fps: float, seconds: float) -> SessionLog:
    """One camera for `seconds`: a frame every 1/fps s whatever the replies, or (fps 0) the next frame as soon
    as the previous one's reply comes."""
    async with connect(url.replace("http", "ws", 1) + "/v1/stream", max_size=2**24) as websocket:
        if fps:
            return await _paced(websocket, frame, fps, seconds)
        return await _closed_loop(websocket, frame, seconds)


async def _paced(websocket, frame: bytes, fps: float, seconds: float) -> SessionLog:
    total = max(1, round(fps * seconds))
    sent_at: list[float] = []

    async def send_all() -> None:
        start = time.perf_counter()
        for number in range(total):
            await asyncio.sleep(max(0.0, start + number / fps - time.perf_counter()))
            sent_at.append(time.perf_counter())
            await websocket.send(frame)

    sender = asyncio.create_task(send_all())
    log = SessionLog()
    for _ in range(total):
        reply = json.loads(await websocket.recv())
        log.add(reply, sent_at[reply["frame"]])
    await sender
    return log


async def _closed_loop(websocket, frame: bytes, seconds: float) -> SessionLog:
    log = SessionLog()
    stop_at = time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        sent_at = time.perf_counter()
        await websocket.send(frame)
        log.add(json.loads(await websocket.recv()), sent_at)
    return log


async def run_streams(url: str, sessions: int, fps: float, seconds: float) -> StreamResult:
    frame = camera_frame()
    logs = await asyncio.gather(*(live_session(url, frame, fps, seconds) for _ in range(sessions)))
    latencies = [latency for log in logs for latency in log.latencies]
    frames = sum(len(log.latencies) + log.skipped + log.errors for log in logs)
    return StreamResult(
        sessions=sessions,
        target_fps=fps,
        seconds=seconds,
        fps_per_session=len(latencies) / sessions / seconds,
        p50_ms=_percentile(latencies, 0.5) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        skipped_share=sum(log.skipped for log in logs) / max(1, frames),
        errors=sum(log.errors for log in logs),
    )


async def photo_p50(url: str, photo: bytes, count: int) -> float:
    """Median of `count` sequential POST /predict (with detection) of one photo, in ms."""
    latencies = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(count):
            start = time.perf_counter()
            response = await client.post("/predict", content=photo, headers={"content-type": "image/jpeg"})
            response.raise_for_status()
            latencies.append(time.perf_counter() - start)
    return statistics.median(latencies) * 1000


async def stream_p50(url: str, fps: float, seconds: float) -> float:
    log = await live_session(url, camera_frame(), fps, seconds)
    return _percentile(log.latencies, 0.5) * 1000


async def fair_sharing(url: str, clip: bytes, photos: int, stream_fps: float, seconds: float) -> SharingResult:
    """Photo and live-frame latency alone, then again while a video is analysed (every frame, so it keeps the
    model busy for the whole measurement)."""
    with open(FACE_PHOTO, "rb") as file:
        photo = file.read()
    idle_photo = await photo_p50(url, photo, photos)
    idle_stream = await stream_p50(url, stream_fps, seconds)
    video = asyncio.create_task(analyse_clip(url, clip, 0.0, fps=0))
    busy_photo = await photo_p50(url, photo, photos)
    busy_stream = await stream_p50(url, stream_fps, seconds)
    if video.done():
        raise RuntimeError("the video ended before the measurement did; use a longer clip")
    await video
    return SharingResult(idle_photo, busy_photo, busy_photo / idle_photo, idle_stream, busy_stream)


def format_video(result: VideoResult) -> str:
    return (
        f"clip {result.clip_seconds:.0f} s: {result.sampled_frames} sampled frames, {result.faces} faces in "
        f"{result.seconds:.2f} s = {result.frames_per_s:.1f} frames/s, {result.faces_per_s:.1f} faces/s, "
        f"{result.realtime_ratio:.1f}x real time; first line after {result.first_line_ms:.0f} ms"
    )


def format_stream(result: StreamResult) -> str:
    return (
        f"{result.sessions} session(s) at {result.target_fps or 'max'} fps for {result.seconds:.0f} s: "
        f"{result.fps_per_session:.1f} answered frames/s per session, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, skipped {result.skipped_share:.1%}, errors {result.errors}"
    )


def format_sharing(result: SharingResult) -> str:
    return (
        f"photo p50 idle {result.photo_idle_p50_ms:.1f} ms, during a video {result.photo_during_video_p50_ms:.1f} ms "
        f"({result.ratio:.2f}x); live frame p50 idle {result.stream_idle_p50_ms:.1f} ms, during a video "
        f"{result.stream_during_video_p50_ms:.1f} ms"
    )
