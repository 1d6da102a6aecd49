"""Random schedules of three people appearing and disappearing (seeded, so a failure names its seed and
replays), through `POST /v1/video` and through `WS /v1/stream` on a real server: no crash, no silent frame,
and every answer consistent with the schedule."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image
from websockets.sync.client import connect

from bench.server_process import ServerProcess
from tests.answers import summary_matches
from tests.clips import encode
from tests.corpus import RATE, THREE
from tests.footage import PERSON_SIZE, frame
from tests.pipelines.conftest import FRAME_DEADLINE_S

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(120)]

RUNS = 8
FRAMES = 10
Schedule = list[tuple[int, ...]]


def schedule(seed: int) -> Schedule:
    """Per frame, which of the three people are in view: each comes and goes at random, runs of a few frames."""
    rng = np.random.default_rng(seed)
    present = rng.random(3) < 0.5
    frames = []
    for _ in range(FRAMES):
        present ^= rng.random(3) < 0.3
        frames.append(tuple(int(i) for i in np.flatnonzero(present)))
    return frames


def consistent(plan: Schedule, lines: list[dict], seed: int) -> None:
    """Each frame has exactly its people's faces, each where that person stands, and a track id stays with
    one person (a person may get a new id after a long absence, never someone else's)."""
    owners: dict[int, int] = {}
    for people, line in zip(plan, lines, strict=True):
        assert len(line["faces"]) == len(people), (seed, plan, line)
        for face in line["faces"]:
            centre = (face["box"][0] + face["box"][2]) / 2
            person = min(people, key=lambda who: abs(THREE[who].x + PERSON_SIZE[0] / 2 - centre))
            assert owners.setdefault(face["track_id"], person) == person, (seed, plan)
        assert len({face["track_id"] for face in line["faces"]}) == len(people), (seed, plan)


@pytest.mark.parametrize("seed", range(RUNS))
def test_random_schedules_through_the_video_endpoint(server: ServerProcess, seed: int):
    plan = schedule(seed)
    clip = encode([frame(tuple(THREE[i] for i in people)) for people in plan], rate=RATE)
    response = httpx.post(
        f"{server.url}/v1/video", params={"fps": 0}, content=clip, headers={"content-type": "video/mp4"}, timeout=60
    )
    assert response.status_code == 200, (seed, response.text[:300])
    *frames, last = [json.loads(line) for line in response.text.splitlines()]
    assert [line["frame"] for line in frames] == list(range(FRAMES)), seed
    consistent(plan, frames, seed)
    assert (last["summary"]["frames"], last["summary"]["errors"]) == (FRAMES, 0)
    summary_matches(frames, last["summary"]["tracks"])


@pytest.mark.parametrize("seed", range(RUNS))
def test_random_schedules_through_a_live_stream(server: ServerProcess, seed: int):
    plan = schedule(seed)
    replies = []
    with connect(server.url.replace("http", "ws") + "/v1/stream", open_timeout=60, max_size=2**24) as session:
        for number, people in enumerate(plan):
            buffer = io.BytesIO()
            Image.fromarray(frame(tuple(THREE[i] for i in people))).save(buffer, "PNG")
            session.send(buffer.getvalue())
            try:
                reply = json.loads(session.recv(FRAME_DEADLINE_S + 5))
            except TimeoutError:
                pytest.fail(f"seed {seed}: frame {number} got neither a reply nor a close in time")
            assert reply["frame"] == number, (seed, reply)
            replies.append(reply)
    consistent(plan, replies, seed)
