"""The Python client and `predict --url` against a real server on a loopback port."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from bench.server_process import ServerProcess
from service.client import AsyncMotivNetClient, ClientError, MotivNetClient
from tests.test_cli import run_cli

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
