"""The served system over real sockets: batching, back-pressure, deadlines, disconnects, readiness, drain."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import numpy as np

from bench.server_process import ServerProcess
from tests.conftest import encode

LABELS = ["Neutral", "Happiness", "Sadness", "Surprise", "Fear", "Disgust", "Anger"]


async def _post_many(url: str, bodies: list[bytes]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=64)) as client:
        headers = {"content-type": "image/png"}
        posts = [client.post("/predict", params={"detect": "false"}, content=body, headers=headers) for body in bodies]
        return await asyncio.gather(*posts)


def test_burst_is_batched_and_each_answer_is_its_own(photo_variants, expected_for):
    names = list(photo_variants) * 4
    bodies = {name: encode(image) for name, image in photo_variants.items()}
    with ServerProcess("--max-batch-size", "8", "--max-batch-delay-ms", "50") as server:
        server.wait_ready()
        responses = asyncio.run(_post_many(server.url, [bodies[name] for name in names]))
        batches = server.metric("motivnet_batch_size_count")
        faces = server.metric("motivnet_batch_size_sum")
    assert all(r.status_code == 200 for r in responses)
    for name, response in zip(names, responses):
        face = response.json()["results"][0]["faces"][0]
        got = [face["probabilities"][label] for label in LABELS]
        assert np.allclose(got, expected_for(photo_variants[name]), atol=1e-5), name
    assert faces == len(names)
    assert faces / batches > 1


def test_full_queue_answers_503_with_retry_after_and_accepted_work_completes(face_png):
    body = face_png.read_bytes()
    with ServerProcess("--max-batch-size", "1", "--max-queue-size", "2", "--max-batch-delay-ms", "0") as server:
        server.wait_ready()
        responses = asyncio.run(_post_many(server.url, [body] * 12))
        rejected = server.metric("motivnet_rejected_total", 'reason="queue_full"')
    statuses = [r.status_code for r in responses]
    assert set(statuses) == {200, 503}
    full = [r for r in responses if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "queue_full" for r in full)
    assert rejected == len(full)


def test_expired_deadline_answers_504(face_png):
    body = face_png.read_bytes()
    with ServerProcess("--max-batch-size", "1", "--request-timeout-ms", "60", "--max-batch-delay-ms", "0") as server:
        server.wait_ready()
        responses = asyncio.run(_post_many(server.url, [body] * 12))
        timeouts = server.metric("motivnet_rejected_total", 'reason="timeout"')
        timeouts += server.metric("motivnet_requests_rejected_total", 'reason="timeout"')
        late = [r for r in responses if r.status_code == 504]
        assert late and all(r.json()["error"]["code"] == "timeout" for r in late)
        assert timeouts >= 1
        assert httpx.get(f"{server.url}/health/ready").status_code == 200


def _send_and_hang_up(port: int, body: bytes, after_seconds: float) -> None:
    head = (
        "POST /predict?detect=false HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + body)
        time.sleep(after_seconds)


def test_disconnected_client_never_reaches_the_model(face_png):
    body = face_png.read_bytes()
    with ServerProcess("--max-batch-size", "1", "--max-batch-delay-ms", "0") as server:
        server.wait_ready()

        async def scenario() -> list[httpx.Response]:
            busy = asyncio.ensure_future(_post_many(server.url, [body] * 8))
            await asyncio.sleep(0.1)
            await asyncio.to_thread(_send_and_hang_up, server.port, body, 0.1)
            return await busy

        responses = asyncio.run(scenario())
        time.sleep(0.3)
        cancelled = server.metric("motivnet_rejected_total", 'reason="cancelled"')
        faces = server.metric("motivnet_faces_total")
    assert all(r.status_code == 200 for r in responses)
    assert cancelled == 1
    assert faces == 8


def test_ready_is_503_until_warm(face_png):
    with ServerProcess("--max-batch-size", "16") as server:
        server.wait_listening()
        first = httpx.get(f"{server.url}/health/ready")
        early = httpx.post(
            f"{server.url}/predict", content=face_png.read_bytes(), headers={"content-type": "image/png"}
        )
        server.wait_ready()
    assert first.status_code == 503 and first.json()["error"]["message"] == "loading"
    assert early.status_code == 503 and early.json()["error"]["code"] == "not_ready"


def test_sigterm_drains_queued_work_then_exits(face_png):
    """Faces queued when SIGTERM arrives are all answered; requests arriving after it get 503."""
    body = face_png.read_bytes()
    with ServerProcess("--max-batch-size", "1", "--max-batch-delay-ms", "0") as server:
        server.wait_ready()

        async def scenario() -> tuple[list[httpx.Response], float, int]:
            work = asyncio.ensure_future(_post_many(server.url, [body] * 16))
            while (queued := server.metric("motivnet_queue_depth")) < 6:
                await asyncio.sleep(0.005)
            server.terminate()
            await asyncio.sleep(0.05)
            async with httpx.AsyncClient() as client:
                ready = (await client.get(f"{server.url}/health/ready")).status_code
            return await work, queued, ready

        responses, queued_at_signal, ready_during_drain = asyncio.run(scenario())
        server.process.wait(timeout=30)
        log = server.stop()
    answered = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert ready_during_drain == 503
    assert len(answered) >= queued_at_signal
    assert all(r.status_code == 503 and r.json()["error"]["code"] == "not_ready" for r in refused)
    assert "queue drained" in log
