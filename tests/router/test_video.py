"""POST /v1/video with clips made from real photos, the bundled CPU model and MobileNet detection."""

from __future__ import annotations

import asyncio
import json
import re
import threading

import httpx
import numpy as np
import pytest

from motivnet_serve.pipelines.tracks import Tracks
from motivnet_serve.router.app import create_app
from motivnet_serve.settings import Settings
from tests.answers import summary_matches
from tests.clips import (
    audio_only,
    declared_long,
    declared_size,
    encode,
    group_clip,
    pan_and_zoom,
    rotated_mov,
    timed_clip,
)
from tests.conftest import MODEL_STORE
from tests.corpus import ONE
from tests.footage import frame
from tests.photos import load_photo, photo_paths
from tests.router.conftest import serving, wait_ready

pytestmark = pytest.mark.anyio

MP4 = "video/mp4"


def mini_settings(**overrides) -> Settings:
    return Settings.from_flat(model_dir=str(MODEL_STORE / "mini-xception"), device="cpu", **overrides)


@pytest.fixture(scope="module")
def clip() -> bytes:
    """Three seconds at 25 frames/s, 640x360, H.264 in MP4: 15 sampled frames at the default 5 per second."""
    return group_clip(seconds=3.0)


def ndjson(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


async def test_group_clip_keeps_track_ids_and_the_summary_matches_the_lines(clip):
    async with serving(mini_settings()) as client:
        response = await client.post("/v1/video", files={"file": ("group.mp4", clip, MP4)})
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    *frames, last = ndjson(response.text)
    summary = last["summary"]
    assert [line["frame"] for line in frames] == list(range(0, 75, 5))
    assert [line["time_ms"] for line in frames] == [index * 200.0 for index in range(15)]
    assert all(len(line["faces"]) == 5 for line in frames)
    # the five people keep their ids from the first frame to the last (at most one switch allowed)
    first_ids = {face["track_id"] for face in frames[0]["faces"]}
    assert len({face["track_id"] for line in frames for face in line["faces"]}) <= len(first_ids) + 1
    assert sum({face["track_id"] for face in line["faces"]} == first_ids for line in frames) >= 14
    assert summary["model"] == "mini-xception-fer2013"
    assert (summary["frames"], summary["duration_ms"]) == (15, 3000.0)
    summary_matches(frames, summary["tracks"])
    assert "motivnet_video_frames_total 15.0" in metrics
    assert 'motivnet_frame_latency_seconds_count{source="video"} 15.0' in metrics


async def test_json_document_has_the_same_content_and_options_apply(clip):
    async with serving(mini_settings()) as client:
        query = {"fps": 2, "max_faces": 2}
        streamed = await client.post("/v1/video", params=query, content=clip, headers={"content-type": MP4})
        document = await client.post(
            "/v1/video", params=query, content=clip, headers={"content-type": MP4, "accept": "application/json"}
        )
        every = await client.post(
            "/v1/video", params={"fps": 0, "detect": "false"}, content=clip[:], headers={"content-type": MP4}
        )
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/json"
    *frames, last = ndjson(streamed.text)
    assert document.json() == {"frames": frames, "summary": last["summary"]}
    assert [line["frame"] for line in frames] == [0, 13, 25, 38, 50, 63]
    assert all(len(line["faces"]) == 2 for line in frames)
    whole = ndjson(every.text)
    assert len(whole) == 76
    assert all(len(line["faces"]) == 1 and line["faces"][0]["box"] is None for line in whole[:-1])
    assert {line["faces"][0]["track_id"] for line in whole[:-1]} == {1}


async def test_phone_video_is_turned_upright():
    """HEVC in MOV, stored sideways with a display matrix saying 'turn 90 degrees clockwise', as phones do."""
    photo = load_photo(photo_paths()["multi_face.jpg"])
    views = [np.ascontiguousarray(np.rot90(view)) for view in pan_and_zoom(photo, 5, (640, 360))]
    phone = rotated_mov(encode(views, container="mov", codec="libx265", rate=5, **{"x265-params": "log-level=error"}))
    async with serving(mini_settings()) as client:
        response = await client.post("/v1/video", files={"file": ("IMG_0001.MOV", phone, "video/quicktime")})
    *frames, _ = ndjson(response.text)
    assert len(frames) == 5
    assert all(len(line["faces"]) == 5 for line in frames)
    assert all(face["box"][2] <= 640 and face["box"][3] <= 360 for line in frames for face in line["faces"])


@pytest.mark.parametrize(
    ("container", "codec", "pix_fmt"),
    [
        ("webm", "libvpx", "yuv420p"),
        ("matroska", "libvpx-vp9", "yuv420p"),
        ("avi", "mpeg4", "yuv420p"),
        ("gif", "gif", "rgb8"),
    ],
)
async def test_other_containers_and_codecs(container, codec, pix_fmt):
    photo = load_photo(photo_paths()["multi_face.jpg"])
    video = encode(pan_and_zoom(photo, 4, (640, 360)), container=container, codec=codec, rate=4, pix_fmt=pix_fmt)
    async with serving(mini_settings()) as client:
        response = await client.post("/v1/video", params={"fps": 0}, files={"file": ("clip", video, "video/*")})
    *frames, last = ndjson(response.text)
    assert len(frames) == 4, response.text[:300]
    assert all(len(line["faces"]) == 5 for line in frames), response.text[:300]
    assert last["summary"]["frames"] == 4


async def test_bad_videos_get_clean_4xx(clip):
    cover = load_photo(photo_paths()["single_face.jpg"]).numpy()  # a face, so artwork taken as video shows
    cases = {
        "text": (b"just some notes, not a video\n" * 20, 415, "unsupported_video"),
        "truncated": (clip[: len(clip) // 2], 422, "corrupt_video"),
        "audio only": (audio_only(), 415, "unsupported_video"),
        "audio with cover art": (audio_only(cover=cover), 415, "unsupported_video"),
        "zero bytes": (b"", 400, "no_video"),
        "8K": (declared_size(7680, 4320), 413, "frame_too_large"),
        "1x1": (encode([np.full((1, 1, 3), 128, np.uint8)] * 3, pix_fmt="yuv444p"), 422, "frame_too_small"),
        "ten hours": (declared_long(hours=10), 413, "video_too_long"),
        "too many bytes": (clip + b"\0" * 1024, 413, "upload_too_large"),
    }
    async with serving(mini_settings(max_video_bytes=len(clip) + 512)) as client:
        for name, (data, status, code) in cases.items():
            response = await client.post("/v1/video", files={"file": ("clip.mp4", data, MP4)})
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), name
        wrong_type = await client.post("/v1/video", content=clip, headers={"content-type": "text/plain"})
        assert wrong_type.status_code == 415
        bad_query = await client.post("/v1/video", params={"smoothing": 1}, content=clip, headers={"content-type": MP4})
        assert bad_query.status_code == 422


async def test_a_recording_that_holds_its_last_picture_is_whole():
    """2 s of frames, the last one shown 5 s more (a screen recording of a screen that stood still): the file
    declares 7 s and is whole. Only a file whose frames stop short of its declared length was cut short."""
    photo = load_photo(photo_paths()["multi_face.jpg"])
    video = timed_clip(pan_and_zoom(photo, 10, (640, 360)), rate=5, hold_s=5.0)
    async with serving(mini_settings()) as client:
        response = await client.post("/v1/video", files={"file": ("screen.mp4", video, MP4)})
    *frames, last = ndjson(response.text)
    assert [line.get("error") for line in frames] == [None] * 10
    assert last["summary"]["errors"] == 0
    assert last["summary"]["duration_ms"] == pytest.approx(7000, abs=50)


async def test_a_video_that_starts_late_on_its_timeline_is_whole():
    """An MKV whose 2 s of frames start 5 s into the file's timeline (a clip cut from a longer recording, keeping
    its clock): MKV declares where the file ends (7 s), so the frames' end is compared on that timeline."""
    photo = load_photo(photo_paths()["multi_face.jpg"])
    video = timed_clip(pan_and_zoom(photo, 10, (640, 360)), rate=5, start_s=5.0, container="matroska")
    async with serving(mini_settings()) as client:
        response = await client.post("/v1/video", files={"file": ("cut.mkv", video, "video/x-matroska")})
    *frames, last = ndjson(response.text)
    assert [line.get("error") for line in frames] == [None] * 10
    assert [line["time_ms"] for line in frames] == [200.0 * index for index in range(10)]
    assert last["summary"]["errors"] == 0


async def test_a_failure_after_the_first_line_is_an_error_line_and_the_summary_still_ends_the_answer():
    """A live-muxed MKV declares no length; the limit then stops it while it plays, after lines have left."""
    photo = load_photo(photo_paths()["multi_face.jpg"])
    views = pan_and_zoom(photo, 12, (320, 180))
    undeclared = encode(views, container="matroska", rate=4, muxer_options={"live": "1"})
    async with serving(mini_settings(max_video_seconds=1.0)) as client:
        response = await client.post(
            "/v1/video", params={"fps": 0}, content=undeclared, headers={"content-type": "video/x-matroska"}
        )
    *frames, stopped, last = ndjson(response.text)
    assert response.status_code == 200
    assert [line["time_ms"] for line in frames] == [0.0, 250.0, 500.0, 750.0, 1000.0]
    assert stopped["error"]["code"] == "video_too_long"
    assert (last["summary"]["frames"], last["summary"]["errors"], last["summary"]["duration_ms"]) == (5, 1, 1000.0)
    summary_matches(frames, last["summary"]["tracks"])


async def test_first_line_leaves_before_the_video_is_analysed_and_a_client_that_leaves_stops_it(clip):
    """The client holds the first line (its send never returns): the video must get no further than its window
    of frames in flight, so the line left before the last frame was decoded, whatever the machine's speed.
    Then the client leaves: once the server has answered the disconnect, the decoder is gone and nothing
    more was analysed."""
    app = create_app(mini_settings(video_frames_in_flight=2))
    first_line, leave, never = asyncio.Event(), asyncio.Event(), asyncio.Event()
    requests = iter([{"type": "http.request", "body": clip, "more_body": False}])

    async def receive() -> dict:
        if (message := next(requests, None)) is not None:
            return message
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            first_line.set()
            await never.wait()

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            await wait_ready(client)
            call = asyncio.create_task(app(_video_scope(), receive, send))
            async with asyncio.timeout(60):
                await first_line.wait()
                held = _video_frames(await client.get("/metrics"))
                leave.set()
                await call
                after = _video_frames(await client.get("/metrics"))
    assert 1 <= held <= 3 < 75
    assert after <= 3
    assert not [t for t in threading.enumerate() if t.name.startswith("video-decode")]


def _video_scope() -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/video",
        "raw_path": b"/v1/video",
        "query_string": b"fps=0",
        "root_path": "",
        "headers": [(b"content-type", MP4.encode()), (b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }


def _video_frames(response: httpx.Response) -> float:
    return float(re.search(r"^motivnet_video_frames_total (\S+)$", response.text, re.MULTILINE).group(1))


async def test_a_frame_that_fails_on_the_server_is_its_own_error_line_and_the_video_goes_on(monkeypatch, caplog):
    """The issue's bug put back at its seam (tracking raises on a frame without a face): those frames answer
    an error line each, logged and counted once, and the rest of the video and its summary still come."""
    follow = Tracks.follow

    def the_issues_bug(self, faces, frame_box, time_ms):
        if not faces:
            raise KeyError("face")
        return follow(self, faces, frame_box, time_ms)

    monkeypatch.setattr(Tracks, "follow", the_issues_bug)
    clip = encode([frame(ONE)] * 4 + [frame(())] * 4 + [frame(ONE)] * 4, rate=4)
    async with serving(mini_settings()) as client:
        response = await client.post("/v1/video", params={"fps": 0}, content=clip, headers={"content-type": MP4})
        document = await client.post(
            "/v1/video", params={"fps": 0}, content=clip, headers={"content-type": MP4, "accept": "application/json"}
        )
        metrics = (await client.get("/metrics")).text
    *frames, last = ndjson(response.text)
    assert [line["frame"] for line in frames] == list(range(12))
    assert ["error" in line for line in frames] == [False] * 4 + [True] * 4 + [False] * 4
    assert {line["error"]["code"] for line in frames[4:8]} == {"model_failed"}
    assert (last["summary"]["frames"], last["summary"]["errors"]) == (12, 4)
    assert document.json()["summary"]["errors"] == 4
    assert 'motivnet_frame_failures_total{answer="frame_error",source="video"} 8.0' in metrics
    assert len([record for record in caplog.records if record.exc_info and "video frame" in record.getMessage()]) == 8
