"""`x-request-id` on every answer, JSON log lines that carry it and the trace id, and the spans of a video and a
live session, from one real server process (JSON logs, tracing to a receiver the test starts)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from websockets.sync.client import connect

from bench.otlp_receiver import Receiver, Span, otlp_receiver, tracing_env
from bench.server_process import ServerProcess
from tests.clips import group_clip
from tests.photos import photo_paths
from tests.router.test_request_traces import has, one, traceparent

pytestmark = [pytest.mark.server, pytest.mark.slow]

FRESH_ID = re.compile(r"[0-9a-f]{32}")
POST = "POST /v1/video"


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[ServerProcess, Receiver]]:
    with otlp_receiver() as (receiver, endpoint):
        env = {"MOTIVNET_LOG_FORMAT": "json", **tracing_env(endpoint)}
        with ServerProcess(env=env) as server:
            server.wait_ready()
            yield server, receiver


@pytest.fixture(scope="module")
def frame_jpeg() -> bytes:
    image = Image.open(photo_paths()["multi_face.jpg"]).convert("RGB").resize((320, 214))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("lb-7f3a:42/retry=1", True), ("x" * 129, False), ("has space", False), ("", False), (None, False)],
)
def test_a_sane_request_id_from_the_caller_is_kept_and_any_other_is_replaced(traced, face_png, sent, kept):
    server, _ = traced
    headers = {"content-type": "image/png", **({"x-request-id": sent} if sent is not None else {})}
    response = httpx.post(f"{server.url}/predict", content=face_png.read_bytes(), headers=headers, timeout=120)
    refused = httpx.post(f"{server.url}/predict", content=b"not an image", headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    assert refused.status_code == 415
    for answer in (response, refused):
        given = answer.headers["x-request-id"]
        assert given == sent if kept else FRESH_ID.fullmatch(given), given
    assert response.headers["x-request-id"] != refused.headers["x-request-id"] or kept


def test_log_lines_are_json_with_the_request_and_trace_ids(traced, face_png):
    server, receiver = traced
    header, trace_id, _ = traceparent()
    headers = {"content-type": "image/png", "x-request-id": "join-me-1", "traceparent": header}
    response = httpx.post(f"{server.url}/predict", content=face_png.read_bytes(), headers=headers, timeout=120)
    assert response.status_code == 200
    receiver.wait_for(has("POST /predict", trace_id))
    lines = [json.loads(line) for line in server.output().splitlines() if line.strip()]
    assert all(set(line) >= {"timestamp", "level", "logger", "message", "request_id", "trace_id"} for line in lines)
    assert any(line["logger"] == "uvicorn.error" and "Uvicorn running on" in line["message"] for line in lines)
    access = [line for line in lines if line["logger"] == "uvicorn.access" and line["request_id"] == "join-me-1"]
    assert len(access) == 1, access
    assert access[0]["trace_id"] == trace_id
    assert "POST /predict" in access[0]["message"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", access[0]["timestamp"])


def test_a_video_answer_carries_its_id_and_each_sampled_frame_is_a_span_of_the_request(traced):
    server, receiver = traced
    header, trace_id, _ = traceparent()
    headers = {"content-type": "video/mp4", "traceparent": header, "x-request-id": "video-1"}
    clip = group_clip(seconds=1.0, rate=10, size=(320, 180))
    response = httpx.post(f"{server.url}/v1/video?fps=4", content=clip, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "video-1"
    frames = [line for line in map(json.loads, response.text.splitlines()) if "frame" in line]
    spans = receiver.wait_for(lambda got: has("frame", trace_id, len(frames))(got) and has(POST, trace_id)(got))
    request = one(spans, POST, trace_id)
    assert one(spans, "upload", trace_id).parent_id == request.span_id
    frame_spans = [span for span in spans if span.name == "frame" and span.trace_id == trace_id]
    assert sorted(span.attributes["motivnet.frame"] for span in frame_spans) == [line["frame"] for line in frames]
    assert all(span.parent_id == request.span_id for span in frame_spans)
    _each_frame_has_its_batch(spans, frame_spans)


def test_a_live_session_answers_the_handshake_with_its_id_and_its_frames_are_spans_of_the_session(traced, frame_jpeg):
    server, receiver = traced
    header, trace_id, _ = traceparent()
    url = server.url.replace("http://", "ws://") + "/v1/stream"
    with connect(url, additional_headers={"traceparent": header, "x-request-id": "camera-9"}) as session:
        assert session.response is not None
        assert session.response.headers["x-request-id"] == "camera-9"
        for _ in range(2):
            session.send(frame_jpeg)
            assert "faces" in json.loads(session.recv(timeout=120))
    spans = receiver.wait_for(has("WS /v1/stream", trace_id))
    session_span = one(spans, "WS /v1/stream", trace_id)
    frame_spans = [span for span in spans if span.name == "frame" and span.trace_id == trace_id]
    assert sorted(span.attributes["motivnet.frame"] for span in frame_spans) == [0, 1]
    assert all(span.parent_id == session_span.span_id for span in frame_spans)
    _each_frame_has_its_batch(spans, frame_spans)


def _each_frame_has_its_batch(spans: list[Span], frames: list[Span]) -> None:
    """Each frame span holds its `classify`, which holds the frame's detection."""
    for frame in frames:
        classify = [span for span in spans if span.name == "classify" and span.parent_id == frame.span_id]
        assert len(classify) == 1
        inside = {span.name for span in spans if span.parent_id == classify[0].span_id}
        assert "detection" in inside, inside
