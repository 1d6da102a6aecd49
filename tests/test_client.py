"""The Python client and `predict --url` against a real server on a loopback port."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from bench.server_process import ServerProcess
from motivnet_serve.client import AsyncMotivNetClient, ClientError, MotivNetClient
from tests.cli.test_cli import run_cli
from tests.clips import group_clip
from tests.conftest import TINY_DIR

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(bundled_weights):  # noqa: ARG001 - the server needs the weights in place
    with ServerProcess() as process:
        process.wait_ready()
        yield process


def _probabilities(answer: dict, labels: list[str]) -> list[float]:
    face = answer["results"][0]["faces"][0]
    return [face["probabilities"][label] for label in labels]


def test_sync_client_predicts_and_describes(server, face_png, expected):
    with MotivNetClient(server.url) as client:
        assert client.ready()
        answer = client.predict([face_png], detect=False)
        [model] = client.models()["models"]
    assert answer["model"] == model["name"] == "motivnet-tiny"
    assert np.allclose(_probabilities(answer, expected["labels"]), expected["expected_probabilities"], atol=2e-3)


def test_async_client_detects_faces(server, face_png):
    async def main() -> dict:
        async with AsyncMotivNetClient(server.url) as client:
            return await client.predict([face_png, face_png])

    answer = asyncio.run(main())
    assert [len(result["faces"]) for result in answer["results"]] == [1, 1]
    assert answer["results"][0]["faces"][0]["box"] is not None


def test_client_error_carries_status_and_code(server, tmp_path):
    (tmp_path / "notes.txt").write_text("not a picture")
    with MotivNetClient(server.url) as client, pytest.raises(ClientError) as error:
        client.predict([tmp_path / "notes.txt"])
    assert (error.value.status, error.value.code) == (415, "unsupported_image")


def test_cli_predict_url_matches_local(server, face_png, expected):
    result = run_cli("predict", "--url", server.url, "--no-detect", "--json", str(face_png))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["results"][0]["image"] == str(face_png)
    assert np.allclose(_probabilities(answer, expected["labels"]), expected["expected_probabilities"], atol=2e-3)


def test_cli_predict_url_server_error_is_one_line(server, tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture")
    result = run_cli("predict", "--url", server.url, str(tmp_path / "notes.jpg"))
    assert result.returncode == 2
    assert "unsupported_image" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "group.mp4"
    path.write_bytes(group_clip(seconds=1.0))
    return path


def test_sync_client_video_yields_lines_then_the_summary(server, clip_path):
    with MotivNetClient(server.url) as client:
        lines = list(client.video(clip_path, fps=2))
    *frames, last = lines
    assert [line["frame"] for line in frames] == [0, 13]
    assert all(len(line["faces"]) == 5 for line in frames)
    assert last["summary"]["frames"] == 2
    assert len(last["summary"]["tracks"]) == 5


def test_async_client_video_and_its_errors(server, clip_path, tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")

    async def main() -> tuple[list[dict], ClientError]:
        async with AsyncMotivNetClient(server.url) as client:
            lines = [line async for line in client.video(clip_path, fps=10, max_faces=1)]
            with pytest.raises(ClientError) as error:
                [line async for line in client.video(tmp_path / "notes.mp4")]
        return lines, error.value

    lines, error = asyncio.run(main())
    assert len(lines) == 11
    assert all(len(line["faces"]) == 1 for line in lines[:-1])
    assert (error.status, error.code) == (415, "unsupported_video")


def test_cli_predict_video_offline_matches_the_server(server, clip_path):
    offline = run_cli(
        "predict-video", "--model-dir", str(TINY_DIR), "--device", "cpu", "--fps", "2", "--json", str(clip_path)
    )
    remote = run_cli("predict-video", "--url", server.url, "--fps", "2", "--json", str(clip_path))
    assert offline.returncode == 0, offline.stderr
    assert remote.returncode == 0, remote.stderr
    offline_lines = [json.loads(line) for line in offline.stdout.splitlines()]
    remote_lines = [json.loads(line) for line in remote.stdout.splitlines()]
    assert [line.get("frame") for line in offline_lines] == [line.get("frame") for line in remote_lines]
    for mine, theirs in zip(offline_lines[-1]["summary"]["tracks"], remote_lines[-1]["summary"]["tracks"]):
        assert mine["frames"] == theirs["frames"]
        assert np.allclose(list(mine["probabilities"].values()), list(theirs["probabilities"].values()), atol=1e-4)
    text = run_cli("predict-video", "--url", server.url, "--fps", "1", str(clip_path))
    assert text.stdout.startswith("frame 0 at 0.00 s: #1 ")
    assert "track 5:" in text.stdout


def test_cli_predict_video_bad_file_is_one_line(server, tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    for where in (["--url", server.url], ["--model-dir", str(TINY_DIR), "--device", "cpu"]):
        result = run_cli("predict-video", *where, str(tmp_path / "notes.mp4"))
        assert result.returncode == 2
        assert "not a video in a supported container" in result.stderr
        assert "Traceback" not in result.stderr
