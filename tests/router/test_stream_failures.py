"""No silent live session: a failure on the server while a frame is answered is that frame's error reply (the
session goes on), and a session that cannot go on is closed with 1011 and a reason; each is logged once with
the session's id and counted. The faults are put in at one seam each (the issue's own bug, a tracker that
raises on a frame without a face; a reply loop that breaks), the rest of the app is real."""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterator

import pytest
from PIL import Image
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from motivnet_serve.pipelines.live import LiveSession
from motivnet_serve.pipelines.tracks import Tracks
from motivnet_serve.router.app import create_app
from motivnet_serve.settings import Settings
from tests.conftest import MODEL_STORE
from tests.corpus import ONE
from tests.footage import frame

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = create_app(Settings(model_dir=str(MODEL_STORE / "mini-xception"), device="cpu"))
    with TestClient(app) as client:
        give_up = time.monotonic() + 100
        while client.get("/health/ready").status_code != 200:  # the deadline guards a stall
            assert time.monotonic() < give_up, "server never became ready"
            time.sleep(0.05)
        yield client


def _jpeg(people: tuple) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame(people)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _leave(client: TestClient, socket) -> None:
    """Closes the session and waits until the app has finished with it (its slot is back), so the test client
    does not cancel the app while it cleans up."""
    socket.close(1000)
    give_up = time.monotonic() + 30
    while not re.search(r"^motivnet_streams_active 0\.0$", client.get("/metrics").text, re.MULTILINE):
        assert time.monotonic() < give_up, "the session never ended"
        time.sleep(0.01)


def _failures(client: TestClient, answer: str) -> float:
    pattern = rf'^motivnet_frame_failures_total{{answer="{answer}",source="stream"}} (\S+)$'
    return float(re.search(pattern, client.get("/metrics").text, re.MULTILINE).group(1))


def test_a_frame_that_fails_on_the_server_gets_an_error_reply_and_the_session_goes_on(client, monkeypatch, caplog):
    follow = Tracks.follow

    def the_issues_bug(self, faces, frame_box, time_ms):
        if not faces:
            raise KeyError("face")  # what trackers 2.1 did to a frame without a face
        return follow(self, faces, frame_box, time_ms)

    monkeypatch.setattr(Tracks, "follow", the_issues_bug)
    here, gone = _jpeg(ONE), _jpeg(())
    with caplog.at_level(logging.ERROR), client.websocket_connect("/v1/stream") as socket:
        replies = []
        for picture in (here, gone, here, gone, here):
            socket.send_bytes(picture)
            replies.append(socket.receive_json())
        _leave(client, socket)
    assert [reply["frame"] for reply in replies] == [0, 1, 2, 3, 4]
    assert [len(reply["faces"]) for reply in replies[::2]] == [1, 1, 1]
    assert [reply["error"]["code"] for reply in replies[1::2]] == ["model_failed", "model_failed"]
    logged = [record for record in caplog.records if "frame" in record.getMessage() and record.exc_info]
    assert len(logged) == 2
    assert all(re.match(r"live session [0-9a-f]{8}: frame [13] failed", record.getMessage()) for record in logged)
    assert (_failures(client, "frame_error"), _failures(client, "stopped")) == (2, 0)


def test_a_session_that_cannot_go_on_is_closed_with_1011_and_a_reason(client, monkeypatch, caplog):
    async def broken(self):  # noqa: ARG001 - the method it replaces takes self
        raise RuntimeError("the reply loop broke")
        yield  # an async generator that fails at once

    monkeypatch.setattr(LiveSession, "replies", broken)
    with caplog.at_level(logging.ERROR), client.websocket_connect("/v1/stream") as socket:
        socket.send_bytes(_jpeg(ONE))
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text()
        _leave(client, socket)
    assert closed.value.code == 1011
    assert "server logged it" in closed.value.reason
    logged = [record for record in caplog.records if record.exc_info]
    assert [re.match(r"live session [0-9a-f]{8} stopped", record.getMessage()) is not None for record in logged] == [
        True
    ]
    assert (_failures(client, "frame_error"), _failures(client, "stopped")) == (0, 1)
