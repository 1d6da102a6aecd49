"""The served system over real sockets: batching, back-pressure, deadlines, disconnects, failures, readiness,
drain and a forced exit.

The server runs through tests/held_server.py, which holds every batch at a gate until the test lets it pass,
so each test knows what is queued when: no sleep stands in for synchronisation, and waits poll a condition
with a deadline that guards against a stall (pytest-timeout is the last resort).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from bench.server_process import ServerProcess
from tests.conftest import encode
from tests.held_server import Gate

pytestmark = [pytest.mark.server, pytest.mark.slow]

LABELS = ["Neutral", "Happiness", "Sadness", "Surprise", "Fear", "Disgust", "Anger"]
PNG = {"content-type": "image/png"}


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    gate = Gate(tmp_path)
    yield gate
    gate.close()


def held_server(gate: Gate, *options: str) -> ServerProcess:
    return ServerProcess(*options, module="tests.held_server", env=gate.env)


async def until(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    """Polls a condition the server makes true; the timeout guards a stall, it is no timing margin."""
    give_up = time.monotonic() + timeout_s
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < give_up, "condition never became true"
        await asyncio.sleep(0.01)


def post(client: httpx.AsyncClient, body: bytes) -> asyncio.Task[httpx.Response]:
    return asyncio.ensure_future(client.post("/predict", params={"detect": "false"}, content=body, headers=PNG))


def client_for(server: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=120, limits=httpx.Limits(max_connections=64))


def queued(server: ServerProcess, depth: int) -> bool:
    return server.metric("motivnet_queue_depth") == depth


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    return response.json()["error"]["message"]


def test_burst_is_batched_and_each_answer_is_its_own(gate, photo_variants, expected_for):
    names = list(photo_variants) * 4
    bodies = {name: encode(image) for name, image in photo_variants.items()}
    with held_server(gate, "--max-batch-size", "8", "--max-batch-delay-ms", "50") as server:
        server.wait_ready()

        async def scenario() -> tuple[list[httpx.Response], int]:
            async with client_for(server) as client:
                posts = [post(client, bodies[name]) for name in names]
                first = await asyncio.to_thread(gate.wait_batch)
                await until(lambda: queued(server, len(names) - first))
                gate.release(b"g" * len(names))
                return await asyncio.gather(*posts), first

        responses, first = asyncio.run(scenario())
        batches = server.metric("motivnet_batch_size_count")
        faces = server.metric("motivnet_batch_size_sum")
    assert all(r.status_code == 200 for r in responses)
    for name, response in zip(names, responses):
        face = response.json()["results"][0]["faces"][0]
        got = [face["probabilities"][label] for label in LABELS]
        assert np.allclose(got, expected_for(photo_variants[name]), atol=1e-5), name
    assert faces == len(names)
    assert batches == 1 + -(-(len(names) - first) // 8)


def test_full_queue_answers_503_with_retry_after_and_accepted_work_completes(gate, face_png):
    body = face_png.read_bytes()
    three = [("file", (f"{i}.png", body, "image/png")) for i in range(3)]
    with held_server(gate, "--max-batch-size", "1", "--max-queue-size", "2", "--max-batch-delay-ms", "0") as server:
        server.wait_ready()

        async def scenario() -> tuple[list[httpx.Response], list[httpx.Response]]:
            async with client_for(server) as client:
                accepted = [post(client, body)]
                await asyncio.to_thread(gate.wait_batch)
                accepted += [post(client, body), post(client, body)]
                await until(lambda: queued(server, 2))
                refused = [await post(client, body), await client.post("/predict?detect=false", files=three)]
                gate.release(b"ggg")
                return await asyncio.gather(*accepted), refused

        accepted, refused = asyncio.run(scenario())
        rejected = server.metric("motivnet_rejected_total", 'reason="queue_full"')
    assert [r.status_code for r in accepted] == [200, 200, 200]
    for response in refused:
        _error(response, 503, "queue_full")
        assert response.headers["retry-after"] == "1"
    assert rejected == 1 + 3


def test_a_face_that_expires_while_queued_answers_504_and_never_reaches_the_model(gate, face_png):
    body = face_png.read_bytes()
    # Long enough for a request to be read and queued on busy cores; the held batch makes it pass for sure.
    options = ("--max-batch-size", "1", "--max-batch-delay-ms", "0", "--request-timeout-ms", "10000")
    with held_server(gate, *options) as server:
        server.wait_ready()

        async def scenario() -> httpx.Response:
            async with client_for(server) as client:
                held = post(client, body)
                await asyncio.to_thread(gate.wait_batch)
                late = await post(client, body)
                gate.release(b"g")
                await held
                await until(lambda: server.metric("motivnet_faces_total") == 1)
                return late

        late = asyncio.run(scenario())
        timeouts = server.metric("motivnet_rejected_total", 'reason="timeout"')
        batches = server.metric("motivnet_batch_size_count")
        depth = server.metric("motivnet_queue_depth")
        ready = httpx.get(f"{server.url}/health/ready").status_code
    _error(late, 504, "timeout")
    assert timeouts >= 1
    assert (batches, depth) == (1, 0)
    assert ready == 200


def _send_and_hang_up(port: int, body: bytes, queued: Callable[[], bool]) -> None:
    head = (
        "POST /predict?detect=false HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + body)
        give_up = time.monotonic() + 60
        while not queued():
            assert time.monotonic() < give_up, "the request never queued"


def test_disconnected_client_never_reaches_the_model(gate, face_png):
    body = face_png.read_bytes()
    with held_server(gate, "--max-batch-size", "1", "--max-batch-delay-ms", "0") as server:
        server.wait_ready()

        async def scenario() -> httpx.Response:
            async with client_for(server) as client:
                held = post(client, body)
                await asyncio.to_thread(gate.wait_batch)
                await asyncio.to_thread(_send_and_hang_up, server.port, body, lambda: queued(server, 1))
                await until(lambda: server.metric("motivnet_rejected_total", 'reason="cancelled"') == 1)
                gate.release(b"g")
                return await held

        response = asyncio.run(scenario())
        faces = server.metric("motivnet_faces_total")
        depth = server.metric("motivnet_queue_depth")
    assert response.status_code == 200
    assert faces == 1
    assert depth == 0


def test_a_failing_batch_answers_503_model_failed_with_retry_after_and_serving_goes_on(gate, face_png):
    body = face_png.read_bytes()
    with held_server(gate, "--max-batch-size", "1", "--max-batch-delay-ms", "0") as server:
        server.wait_ready()

        async def scenario() -> tuple[httpx.Response, httpx.Response]:
            async with client_for(server) as client:
                failing = post(client, body)
                await asyncio.to_thread(gate.wait_batch)
                gate.release(b"f")
                failed = await failing
                later = post(client, body)
                await asyncio.to_thread(gate.wait_batch)
                gate.release(b"g")
                return failed, await later

        failed, later = asyncio.run(scenario())
        ready = httpx.get(f"{server.url}/health/ready").status_code
    assert "out of memory" in _error(failed, 503, "model_failed")
    assert failed.headers["retry-after"] == "1"
    assert later.status_code == 200
    assert ready == 200


def test_a_dead_batch_worker_makes_the_server_unready(gate, face_png):
    body = face_png.read_bytes()
    options = ("--max-batch-size", "1", "--max-batch-delay-ms", "0", "--request-timeout-ms", "10000")
    with held_server(gate, *options) as server:
        server.wait_ready()

        async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
            async with client_for(server) as client:
                stranded = post(client, body)
                await asyncio.to_thread(gate.wait_batch)
                gate.release(b"k")
                await until(lambda: httpx.get(f"{server.url}/health/ready").status_code == 503)
                ready = await client.get("/health/ready")
                refused = await post(client, body)
                return ready, refused, await stranded

        ready, refused, stranded = asyncio.run(scenario())
    assert _error(ready, 503, "not_ready") == "worker down"
    _error(refused, 503, "not_ready")
    _error(stranded, 504, "timeout")


def test_ready_is_503_until_warm(face_png):
    with ServerProcess("--max-batch-size", "2") as server:
        server.wait_listening()
        first = httpx.get(f"{server.url}/health/ready")
        early = httpx.post(f"{server.url}/predict", content=face_png.read_bytes(), headers=PNG)
        server.wait_ready()
    assert first.status_code == 503
    assert first.json()["error"]["message"] == "loading"
    assert early.status_code == 503
    assert early.json()["error"]["code"] == "not_ready"


def test_sigterm_drains_queued_work_then_exits(gate, face_png):
    """Faces queued when SIGTERM arrives are all answered; requests arriving after it get 503."""
    body = face_png.read_bytes()
    with held_server(gate, "--max-batch-size", "1", "--max-batch-delay-ms", "0") as server:
        server.wait_ready()

        async def scenario() -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
            async with client_for(server) as client:
                work = [post(client, body) for _ in range(6)]
                await asyncio.to_thread(gate.wait_batch)
                await until(lambda: queued(server, 5))
                server.terminate()
                await until(lambda: httpx.get(f"{server.url}/health/ready").status_code == 503)
                ready = await client.get("/health/ready")
                refused = await post(client, body)
                gate.release(b"g" * 6)
                return await asyncio.gather(*work), ready, refused

        answered, ready, refused = asyncio.run(scenario())
        server.process.wait(timeout=60)
        log = server.stop()
    assert [r.status_code for r in answered] == [200] * 6
    assert _error(ready, 503, "not_ready") == "draining"
    _error(refused, 503, "not_ready")
    assert "queue drained" in log
    assert server.process.returncode == -signal.SIGTERM  # uvicorn re-raises the signal once it has shut down


def test_a_second_sigterm_exits_at_once(gate, face_png):
    """With a batch that will never finish, the first SIGTERM's drain cannot end; the second must."""
    body = face_png.read_bytes()
    with held_server(gate, "--max-batch-size", "1", "--max-batch-delay-ms", "0") as server:
        server.wait_ready()

        async def scenario() -> None:
            async with client_for(server) as client:
                stranded = post(client, body)
                await asyncio.to_thread(gate.wait_batch)
                server.terminate()
                await until(lambda: httpx.get(f"{server.url}/health/ready").status_code == 503)
                server.terminate()
                await asyncio.to_thread(server.process.wait, 30)
                stranded.cancel()

        asyncio.run(scenario())
        log = server.stop()
    assert server.process.returncode == 128 + signal.SIGTERM
    assert "exiting now" in log
    assert "queue drained" not in log
