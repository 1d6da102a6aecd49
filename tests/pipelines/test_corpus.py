"""The footage corpus (tests/corpus.py) through every path a user has: `POST /v1/video` on a real server, the
same sampled frames one by one over `WS /v1/stream`, and `predict-video` on the command line. Each clip's
answer must be the stated one, and the three paths must agree frame by frame."""

from __future__ import annotations

import io
import json
from functools import cache

import httpx
import numpy as np
import pytest
from PIL import Image
from websockets.sync.client import connect

from bench.server_process import ServerProcess
from motivnet_serve.cli.main import main
from motivnet_serve.pipelines.decode import VideoLimits, VideoReader
from motivnet_serve.pipelines.sampling import Sampler
from tests.answers import answer_is_right
from tests.clips import audio_only, encode
from tests.conftest import ROOT
from tests.corpus import EVENTS, ONE, SAMPLE_FPS, Event, clips, rotated, seen, with_b_frames
from tests.footage import Person
from tests.pipelines.conftest import FRAME_DEADLINE_S, MINI, STREAM_FRAMES_IN_FLIGHT

pytestmark = [pytest.mark.server, pytest.mark.slow]

ARTEFACTS = ROOT / ".out" / "corpus"


@cache
def event(name: str) -> Event:
    if name == "b_frames":
        return Event("b_frames", [seen((Person("single_face.jpg", 300 - 14 * i),)) for i in range(20)], (1, 1))
    if name.startswith("rotated_"):
        return Event(name, [seen(ONE)] * 6, (1, 1))
    return EVENTS[name]()


def clips_of(name: str) -> dict[str, bytes]:
    if name == "b_frames":
        return with_b_frames(event(name))
    if name.startswith("rotated_"):
        return rotated(event(name), int(name.removeprefix("rotated_")))
    return clips(event(name))


def over_http(server: ServerProcess, clip: bytes) -> list[dict]:
    response = httpx.post(
        f"{server.url}/v1/video", params={"fps": SAMPLE_FPS}, files={"file": ("clip", clip, "video/*")}, timeout=120
    )
    assert response.status_code == 200, response.text[:300]
    return [json.loads(line) for line in response.text.splitlines()]


def over_stream(server: ServerProcess, clip: bytes) -> list[dict]:
    """The clip's sampled frames, decoded upright as the server decodes them, sent at once as lossless PNG;
    the watchdog fails on any frame without its reply within the frame deadline."""
    reader = VideoReader(io.BytesIO(clip), VideoLimits(600, 10**8))
    sampled = list(reader.frames(Sampler(SAMPLE_FPS)))
    reader.close()
    assert len(sampled) <= STREAM_FRAMES_IN_FLIGHT
    replies = []
    with connect(server.url.replace("http", "ws") + "/v1/stream", open_timeout=60, max_size=2**24) as session:
        for picture in sampled:
            buffer = io.BytesIO()
            Image.fromarray(picture.pixels.numpy()).save(buffer, "PNG")
            session.send(buffer.getvalue())
        for number, picture in enumerate(sampled):
            reply = json.loads(session.recv(FRAME_DEADLINE_S + 5))
            assert (reply["frame"], "faces" in reply) == (number, True), reply
            replies.append({"frame": picture.index, "faces": reply["faces"]})
    return replies


def on_the_command_line(clip: bytes, tmp_path, capsys) -> list[dict]:
    path = tmp_path / "clip"
    path.write_bytes(clip)
    capsys.readouterr()
    assert main(["predict-video", "--model-dir", MINI, "--device", "cpu", "--json", str(path)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def agree(first: list[dict], second: list[dict], name: str) -> None:
    """The same faces on the same frames: counts, boxes to a pixel, labels."""
    assert [line["frame"] for line in first] == [line["frame"] for line in second], name
    for one, other in zip(first, second):
        assert len(one["faces"]) == len(other["faces"]), (name, one["frame"])
        for a, b in zip(sorted(one["faces"], key=_x), sorted(other["faces"], key=_x)):
            assert max(abs(p - q) for p, q in zip(a["box"], b["box"])) <= 1.0, (name, one["frame"])
            assert a["label"] == b["label"], (name, one["frame"])


def _x(face: dict) -> float:
    return face["box"][0]


NAMES = [*EVENTS, "b_frames", "rotated_90", "rotated_180", "rotated_270"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", NAMES)
def test_corpus_clip_answers_as_stated_on_every_path(server, name, tmp_path, capsys):
    """The answers are written to .out/corpus/NAME.txt, for the record."""
    answers = []
    for container, clip in clips_of(name).items():
        lines = over_http(server, clip)
        answer_is_right(event(name), lines)
        frames = lines[:-1]
        agree(frames, over_stream(server, clip), f"{name}.{container} stream")
        if container == "mp4":  # the command line decodes as the server does; one container keeps the corpus quick
            cli = on_the_command_line(clip, tmp_path, capsys)
            answer_is_right(event(name), cli)
            agree(frames, cli[:-1], f"{name}.{container} cli")
        answers.append(f"{name}.{container}: {_described(lines)}\n")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / f"{name}.txt").write_text("".join(answers))


def _described(lines: list[dict]) -> str:
    *frames, last = lines
    counts = "".join(str(len(line["faces"])) for line in frames)
    tracks = [(t["track_id"], t["first_ms"], t["last_ms"]) for t in last["summary"]["tracks"]]
    return f"{len(frames)} frames, faces per frame {counts}, tracks {tracks}"


@pytest.mark.timeout(60)
def test_footage_that_cannot_be_analysed_is_refused_cleanly(server):
    """A 1x1 video and a file with audio and no video: a 4xx with its code, never a 5xx."""
    cases = {
        "1x1 mp4": (encode([_one_pixel()] * 3, pix_fmt="yuv444p", rate=10), 422, "frame_too_small"),
        "1x1 webm": (encode([_one_pixel()] * 3, container="webm", codec="libvpx", rate=10), 422, "frame_too_small"),
        "audio only": (audio_only(), 415, "unsupported_video"),
    }
    for case, (clip, status, code) in cases.items():
        response = httpx.post(f"{server.url}/v1/video", files={"file": ("clip", clip, "video/*")}, timeout=60)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), case


def _one_pixel() -> np.ndarray:
    return np.full((1, 1, 3), 128, np.uint8)
