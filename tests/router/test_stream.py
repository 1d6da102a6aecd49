"""WS /v1/stream against a real server on a loopback port, with the bundled CPU model, through the client."""

from __future__ import annotations

import asyncio
import io
import json
import time

import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from bench.server_process import ServerProcess
from motivnet_serve.client import AsyncMotivNetClient, MotivNetClient
from tests.conftest import MODEL_STORE
from tests.corpus import ONE
from tests.footage import frame
from tests.photos import photo_paths

REPLY_TIMEOUT = 60
"""Longer than the server's frame deadline (`request_timeout_ms`, 30 s by default): a frame not answered by
then was left silent."""
MAX_STREAMS = 2
MESSAGE_LIMIT = 200_000
REQUEST_PIXELS = 1_000_000
"""Above every frame these tests send but one, whose header claims more."""

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(bundled_weights):  # noqa: ARG001 - the bundled model must be fetched first
    options = ["--model-dir", str(MODEL_STORE / "mini-xception")]
    env = {
        "MOTIVNET_MAX_STREAMS": str(MAX_STREAMS),
        "MOTIVNET_MAX_STREAM_MESSAGE_BYTES": str(MESSAGE_LIMIT),
        "MOTIVNET_MAX_REQUEST_PIXELS": str(REQUEST_PIXELS),
        "MOTIVNET_STREAM_IDLE_TIMEOUT_S": "5",  # long enough for the other tests on a busy machine
    }
    with ServerProcess(*options, env=env) as process:
        process.wait_ready()
        yield process


@pytest.fixture(scope="module")
def group_jpeg() -> bytes:
    """The five-person photo as a 640x427 camera frame."""
    image = Image.open(photo_paths()["multi_face.jpg"]).convert("RGB").resize((640, 427))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_one_reply_per_frame_in_order_and_a_bad_frame_does_not_end_the_session(server, group_jpeg):
    with MotivNetClient(server.url) as client, client.stream() as session:
        replies = []
        for frame in (group_jpeg, b"not an image at all", group_jpeg, b"\0" * (MESSAGE_LIMIT + 1), group_jpeg):
            session.send(frame)
            replies.append(session.receive())
    assert [reply["frame"] for reply in replies] == [0, 1, 2, 3, 4]
    first, bad, again, too_big, last = replies
    assert bad["error"]["code"] == "unsupported_image"
    assert too_big["error"]["code"] == "upload_too_large"
    assert len(first["faces"]) == 5
    assert first["latency_ms"] > 0
    ids = sorted(face["track_id"] for face in first["faces"])
    assert ids == [1, 2, 3, 4, 5]
    for reply in (again, last):
        assert sorted(face["track_id"] for face in reply["faces"]) == ids


def test_a_frame_is_reserved_from_its_header_before_it_is_decoded(server, group_jpeg):
    """A PNG cut short after its header, claiming 1.44 million pixels: the reservation refuses it (413) before
    any decoding, which would have found it corrupt (422); the session goes on."""
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 1200), "gray").save(buffer, "PNG")
    header_only = buffer.getvalue()[:100]
    with MotivNetClient(server.url) as client, client.stream() as session:
        session.send(header_only)
        refused = session.receive()
        session.send(group_jpeg)
        after = session.receive()
    assert refused["error"]["code"] == "request_too_large", refused
    assert len(after["faces"]) == 5


def test_config_message_applies(server, group_jpeg):
    with MotivNetClient(server.url) as client, client.stream({"max_faces": 2, "detect": True}) as session:
        replies = []
        for _ in range(3):
            session.send(group_jpeg)
            replies.append(session.receive())
    assert [len(reply["faces"]) for reply in replies] == [2, 2, 2]
    assert {face["track_id"] for reply in replies for face in reply["faces"]} == {1, 2}


def test_newest_frame_wins_under_overload(server, group_jpeg):
    """Thirty frames sent at once: every frame gets one reply, in order; some wait their turn out and are
    skipped, and the newest frame is always answered."""

    async def run() -> list[dict]:
        async with AsyncMotivNetClient(server.url) as client:
            session = await client.stream()
            async with session:
                for _ in range(30):
                    await session.send(group_jpeg)
                return [await asyncio.wait_for(session.receive(), REPLY_TIMEOUT) for _ in range(30)]

    replies = asyncio.run(run())
    assert [reply["frame"] for reply in replies] == list(range(30))
    skipped = [reply for reply in replies if reply.get("skipped")]
    answered = [reply for reply in replies if "faces" in reply]
    assert len(skipped) + len(answered) == 30
    assert skipped
    assert "faces" in replies[-1]
    assert "faces" in replies[0]
    assert server.metric("motivnet_stream_frames_total", 'outcome="skipped"') >= len(skipped)


def test_one_session_over_the_limit_is_closed_with_1013(server):
    ws_url = server.url.replace("http", "ws") + "/v1/stream"
    with connect(ws_url, open_timeout=REPLY_TIMEOUT) as first, connect(ws_url, open_timeout=REPLY_TIMEOUT) as second:
        first.send(b"x")
        second.send(b"x")
        assert "error" in first.recv(REPLY_TIMEOUT)
        assert "error" in second.recv(REPLY_TIMEOUT)
        assert server.metric("motivnet_streams_active") == MAX_STREAMS
        with connect(ws_url, open_timeout=REPLY_TIMEOUT) as third, pytest.raises(ConnectionClosed) as closed:
            third.recv(REPLY_TIMEOUT)
        assert closed.value.rcvd.code == 1013
    # Slots come back when sessions end, which is after the client's close returns: wait for the server's word.
    give_up = time.monotonic() + REPLY_TIMEOUT
    while server.metric("motivnet_streams_active") > 0:  # the deadline guards a stall
        assert time.monotonic() < give_up, "the closed sessions still hold their slots"
        time.sleep(0.05)
    with connect(ws_url, open_timeout=REPLY_TIMEOUT) as after:
        after.send(b"x")
        assert "error" in after.recv(REPLY_TIMEOUT)


def test_idle_session_is_closed(server):
    ws_url = server.url.replace("http", "ws") + "/v1/stream"
    with connect(ws_url, open_timeout=REPLY_TIMEOUT) as idle, pytest.raises(ConnectionClosed) as closed:
        idle.recv(REPLY_TIMEOUT)
    assert closed.value.rcvd.code == 1000
    assert "idle" in closed.value.rcvd.reason


def test_bad_config_closes_with_1008(server):
    ws_url = server.url.replace("http", "ws") + "/v1/stream"
    with connect(ws_url, open_timeout=REPLY_TIMEOUT) as session:
        session.send('{"config": {"smoothing": 1.5}}')
        with pytest.raises(ConnectionClosed) as closed:
            session.recv(REPLY_TIMEOUT)
    assert closed.value.rcvd.code == 1008


def _jpeg(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_watchdog_every_frame_gets_a_reply_when_faces_leave_and_come_back(server):
    """The issue's report: a person walks out of the picture and the first frame without a face was never
    answered. One by one and then all at once, every frame must get its reply (or the session a close) within
    the frame deadline; a frame without a face answers `"faces": []`."""
    here, gone = _jpeg(frame(ONE)), _jpeg(frame(()))
    schedule = [here, here, gone, gone, here, gone, here, here, gone]
    with MotivNetClient(server.url) as client, client.stream() as session:
        one_by_one = []
        for number, picture in enumerate(schedule):
            session.send(picture)
            one_by_one.append(_within_deadline(session, number))
    assert [len(reply["faces"]) for reply in one_by_one] == [1, 1, 0, 0, 1, 0, 1, 1, 0]
    assert {face["track_id"] for reply in one_by_one for face in reply["faces"]} == {1}

    async def burst() -> list[dict]:
        async with AsyncMotivNetClient(server.url) as client:
            async with await client.stream() as session:
                for picture in schedule * 2:
                    await session.send(picture)
                return [await asyncio.wait_for(session.receive(), REPLY_TIMEOUT) for _ in schedule * 2]

    replies = asyncio.run(burst())
    assert [reply["frame"] for reply in replies] == list(range(len(schedule) * 2))
    assert all("faces" in reply or reply.get("skipped") for reply in replies)


def _within_deadline(session, number: int) -> dict:
    try:
        reply = json.loads(session.connection.recv(REPLY_TIMEOUT))
    except TimeoutError:
        pytest.fail(f"frame {number} got neither a reply nor a close within {REPLY_TIMEOUT} s")
    assert reply["frame"] == number
    return reply
