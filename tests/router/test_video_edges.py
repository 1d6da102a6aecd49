"""The recorded path's edges on a real server: a client that leaves mid-video stops the work, a file cut short
ends with a clean error line and its summary, and two videos and a live session at once all finish."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time

import httpx
import pytest
from PIL import Image

from bench.server_process import ServerProcess
from motivnet_serve.client import AsyncMotivNetClient
from tests.clips import encode
from tests.conftest import MODEL_STORE
from tests.corpus import ONE, RATE, THREE
from tests.footage import Person, frame

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(180)]

VIDEO = "/v1/video"


@pytest.fixture(scope="module")
def server(bundled_weights):  # noqa: ARG001 - the bundled model must be fetched first
    with ServerProcess("--model-dir", str(MODEL_STORE / "mini-xception")) as process:
        process.wait_ready()
        yield process


def walk(frames: int) -> list:
    """One person walking slowly across the room, back and forth."""
    return [frame((Person("single_face.jpg", 20 + (7 * i) % 200),)) for i in range(frames)]


def _finished_videos(server: ServerProcess) -> float:
    return server.metric("motivnet_request_duration_seconds_count", f'endpoint="{VIDEO}"')


def test_a_client_that_leaves_mid_video_stops_the_work(server):
    """300 frames, every one analysed: the client reads one line and hangs up. The server must finish the
    request (frames in flight withdrawn, decoder closed) with most frames never analysed, and analyse none
    after: a later short video adds exactly its own frames."""
    clip = encode(walk(300), rate=RATE)
    finished = _finished_videos(server)
    before = server.metric("motivnet_video_frames_total")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        with client.stream("POST", VIDEO, params={"fps": 0}, content=clip, headers={"content-type": "video/mp4"}) as r:
            assert "faces" in json.loads(next(r.iter_lines()))
    give_up = time.monotonic() + 60
    while _finished_videos(server) == finished:  # the deadline guards a stall; the request must end
        assert time.monotonic() < give_up, "the video went on after its client left"
        time.sleep(0.05)
    stopped_at = server.metric("motivnet_video_frames_total")
    assert 1 <= stopped_at - before < 300
    assert server.metric("motivnet_queue_depth") == 0
    short = encode(walk(3), rate=RATE)
    response = httpx.post(
        f"{server.url}{VIDEO}", params={"fps": 0}, content=short, headers={"content-type": "video/mp4"}
    )
    assert response.status_code == 200
    assert server.metric("motivnet_video_frames_total") == stopped_at + 3


def test_a_file_cut_short_ends_with_an_error_line_then_its_summary(server):
    """An MKV that declares 3 s and stops after 0.6 s of its bytes (an upload that ended early)."""
    whole = encode(walk(30), container="matroska", rate=RATE)
    cut = whole[: len(whole) * 6 // 10]
    response = httpx.post(
        f"{server.url}{VIDEO}", params={"fps": 0}, content=cut, headers={"content-type": "video/x-matroska"}
    )
    assert response.status_code == 200
    *frames, stopped, last = [json.loads(line) for line in response.text.splitlines()]
    assert frames
    assert all(len(line["faces"]) == 1 for line in frames)
    assert stopped["error"]["code"] == "corrupt_video"
    assert "cut short" in stopped["error"]["message"]
    assert (last["summary"]["frames"], last["summary"]["errors"]) == (len(frames), 1)


def _png(people: tuple) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame(people)).save(buffer, "PNG")
    return buffer.getvalue()


def test_two_videos_and_a_live_session_at_once_all_finish(server):
    first, second = encode(walk(20), rate=RATE), encode([frame(THREE)] * 10 + [frame(())] * 10, rate=RATE)

    async def video(client: AsyncMotivNetClient, clip: bytes) -> list[dict]:
        response = await client.http.post(VIDEO, params={"fps": 0}, content=clip, headers={"content-type": "video/mp4"})
        return [json.loads(line) for line in response.text.splitlines()]

    async def live(client: AsyncMotivNetClient) -> list[dict]:
        replies = []
        async with await client.stream() as session:
            for picture in [_png(ONE), _png(())] * 5:
                await session.send(picture)
                replies.append(await asyncio.wait_for(session.receive(), 60))
        return replies

    async def together() -> tuple[list[dict], list[dict], list[dict]]:
        async with AsyncMotivNetClient(server.url, timeout=120) as client:
            return await asyncio.gather(video(client, first), video(client, second), live(client))

    walked, group, replies = asyncio.run(together())
    assert walked[-1]["summary"]["frames"] == 20
    assert [len(line["faces"]) for line in walked[:-1]] == [1] * 20
    assert [len(line["faces"]) for line in group[:-1]] == [3] * 10 + [0] * 10
    assert len(group[-1]["summary"]["tracks"]) == 3
    assert [reply["frame"] for reply in replies] == list(range(10))
    assert [len(reply["faces"]) for reply in replies] == [1, 0] * 5


def _stalled_upload(url: str) -> socket.socket:
    """A video upload that has sent its headers and the start of its body, then waits (within body_timeout_s)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = f"POST {VIDEO} HTTP/1.1\r\nHost: {host}\r\nContent-Type: video/mp4\r\nContent-Length: 1000000\r\n\r\n"
    sock.sendall(head.encode() + b"\0" * 1000)
    return sock


def _until_videos_active(server: ServerProcess, count: int) -> None:
    give_up = time.monotonic() + 30
    while server.metric("motivnet_videos_active") != count:  # the deadline guards a stall
        assert time.monotonic() < give_up, f"never {count} videos in flight"
        time.sleep(0.05)


def test_videos_beyond_the_cap_get_503_at_once_and_places_come_back(server):
    """Two videos (the default cap) still uploading hold both places: a third is refused before its body is
    read, with Retry-After; once they end, a video is analysed again."""
    clip = encode(walk(3), rate=RATE)
    refused_before = server.metric("motivnet_requests_rejected_total", 'reason="videos"')
    stalled = [_stalled_upload(server.url) for _ in range(2)]
    try:
        _until_videos_active(server, 2)
        refused = httpx.post(f"{server.url}{VIDEO}", content=clip, headers={"content-type": "video/mp4"}, timeout=30)
    finally:
        for sock in stalled:
            sock.close()
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "overloaded"
    assert refused.headers["retry-after"] == "1"
    assert server.metric("motivnet_requests_rejected_total", 'reason="videos"') == refused_before + 1
    _until_videos_active(server, 0)
    answered = httpx.post(
        f"{server.url}{VIDEO}", params={"fps": 0}, content=clip, headers={"content-type": "video/mp4"}, timeout=60
    )
    assert answered.status_code == 200
    assert json.loads(answered.text.splitlines()[-1])["summary"]["frames"] == 3
