"""The served limits over real sockets: pixel budgets and memory, admission under a burst, the deadline over
decoding, connection limits, and a bounded drain."""

from __future__ import annotations

import asyncio
import signal
import socket
import time

import httpx
import pytest
from PIL import Image

from bench.server_process import ROOT, ServerProcess
from motivnet_serve.settings import LimitOptions
from tests.conftest import encode
from tests.heif_files import avif_coded_larger, declaring

MINI_XCEPTION_DIR = ROOT / "model_store" / "mini-xception"
FIFTY_MPIXEL_PHONE = (8160, 6120)
"""A 50 Mpixel phone camera's full-resolution photo (48 Mpixel modes write 8064x6048): the defaults take it."""
RSS_BOUND_BYTES = int(2.5 * 2**30)
"""docs/api.md's promise (Limits and access) for a request of the maximum size with the default limits."""

pytestmark = [pytest.mark.server, pytest.mark.slow]


def bomb_gif(side: int) -> bytes:
    """A few hundred bytes that declare side x side pixels: a decompression bomb."""
    return encode(Image.new("P", (side, side), 0), "GIF")


def bomb_phone(fmt: str, side: int) -> bytes:
    """A few hundred bytes of HEIC or AVIF whose header declares side x side pixels."""
    return declaring(encode(Image.new("RGB", (64, 64), (128, 110, 90)), fmt, quality=80), side, side)


def plain_png(width: int, height: int | None = None) -> bytes:
    return encode(Image.new("RGB", (width, height or width), (128, 110, 90)), "PNG", compress_level=1)


def _multipart(bodies: list[bytes], name: str = "x") -> dict:
    return {"files": [("file", (f"{name}{i}", body, "application/octet-stream")) for i, body in enumerate(bodies)]}


def test_bombs_are_refused_whole_and_a_max_size_request_stays_in_its_memory_bound():
    with ServerProcess() as server:
        server.wait_ready()
        bombs_made = (bomb_gif(6000), bomb_phone("HEIF", 6000), bomb_phone("AVIF", 6000), avif_coded_larger(4096))
        for bomb in bombs_made:
            start = time.monotonic()
            bombs = httpx.post(f"{server.url}/predict", **_multipart([bomb] * 16), timeout=60)
            assert bombs.status_code == 413
            assert bombs.json()["error"]["code"] == "request_too_large"
            assert time.monotonic() - start < 2
        side = int((LimitOptions.model_fields["max_request_pixels"].default / 2) ** 0.5)
        full = httpx.post(f"{server.url}/predict", **_multipart([plain_png(side)] * 2), timeout=120)
        assert full.status_code == 200, full.text
        phone = httpx.post(f"{server.url}/predict", **_multipart([plain_png(*FIFTY_MPIXEL_PHONE)]), timeout=120)
        assert phone.status_code == 200, phone.text
        assert server.peak_rss_bytes() < RSS_BOUND_BYTES
        assert server.metric("motivnet_requests_rejected_total", 'reason="request_too_large"') == len(bombs_made)
        assert server.metric("motivnet_pixels_in_flight") == 0
        assert server.metric("process_resident_memory_bytes") > 0


async def _burst(port: int, body: bytes, count: int, path: str = "/predict") -> list[tuple[float, int, bytes]]:
    """Opens `count` connections first, then sends every request at once; returns per request the seconds
    from its send to its answer's first bytes, the status and the head."""
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {len(body)}\r\n\r\n"
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[float, int, bytes]:
        sent = time.monotonic()
        writer.write(head.encode() + body)
        answer = await reader.readuntil(b"\r\n\r\n")
        seconds = time.monotonic() - sent
        length = int(answer.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        answer += await reader.readexactly(length)
        writer.close()
        return seconds, int(answer.split(b" ", 2)[1]), answer

    return await asyncio.wait_for(asyncio.gather(*(one(*stream) for stream in streams)), 120)


def test_a_burst_of_200_small_requests_is_queued_and_answered_in_full(face_png):
    """Default settings: 200 requests at once against 32 slots; the rest wait in line instead of 503. The
    bundled mini-Xception, so the burst's work stays well inside its deadline on a shared CPU."""
    with ServerProcess("--model-dir", str(MINI_XCEPTION_DIR)) as server:
        server.wait_ready()
        answers = asyncio.run(_burst(server.port, face_png.read_bytes(), 200))
        refused = server.metric("motivnet_requests_rejected_total", 'reason="concurrency"')
    statuses = [status for _, status, _ in answers]
    assert statuses.count(200) == 200, {status: statuses.count(status) for status in set(statuses)}
    assert refused == 0


def test_a_flood_against_a_tiny_queue_is_still_refused_at_once(face_png):
    """With --max-queue-size 6 the line holds 6 requests beyond the 32 in flight; the rest of a flood of 200
    is refused within a second, with Retry-After, not after the work ahead of it."""
    with ServerProcess("--max-queue-size", "6") as server:
        server.wait_ready()
        answers = asyncio.run(_burst(server.port, face_png.read_bytes(), 200))
        refused = server.metric("motivnet_requests_rejected_total", 'reason="concurrency"')
    busy = sorted((seconds, head) for seconds, status, head in answers if status == 503)
    assert {status for _, status, _ in answers} <= {200, 503}
    assert len(busy) >= 200 - 32 - 6
    assert all(b"retry-after" in head.lower() for _, head in busy), busy[:3]
    assert all(b'"overloaded"' in head or b'"queue_full"' in head for _, head in busy), busy[:3]
    assert busy[0][0] < 1.0, "a refusal must not wait for the work ahead of it"
    assert refused >= 200 - 32 - 6


def test_the_deadline_covers_decoding_and_detection():
    bodies = [plain_png(1500)] * 8
    with ServerProcess("--request-timeout-ms", "300") as server:
        server.wait_ready()
        start = time.monotonic()
        late = httpx.post(f"{server.url}/predict", **_multipart(bodies), timeout=60)
        elapsed = time.monotonic() - start
    assert late.status_code == 504
    assert late.json()["error"]["code"] == "timeout"
    assert elapsed < 3, "no later than the deadline plus one image's work"


def _raw(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_connection_limits_keep_health_answering():
    env = {
        "MOTIVNET_MAX_CONNECTIONS": "40",
        "MOTIVNET_HEADER_TIMEOUT_S": "1",
        "MOTIVNET_BODY_TIMEOUT_S": "1",
        "MOTIVNET_MAX_HEADER_BYTES": "8192",
    }
    with ServerProcess(env=env) as server:
        server.wait_ready()
        idle = [_raw(server.port) for _ in range(150)]
        assert httpx.get(f"{server.url}/health/live", timeout=5).status_code == 200
        assert server.metric("motivnet_requests_rejected_total", 'reason="connections"') >= 100
        for sock in idle:
            sock.close()
        slow = _raw(server.port)
        slow.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        assert _closed_within(slow, 5), "a head that never ends is cut off"
        huge = _raw(server.port)
        huge.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
        assert huge.recv(100).startswith(b"HTTP/1.1 431")
        stalled = _raw(server.port)
        stalled.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\nab"
        )
        answer = b""
        while not answer.endswith(b"}") and (chunk := stalled.recv(4096)):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408")
        assert b"upload_timeout" in answer
        for sock in (slow, huge, stalled):
            sock.close()


def test_drain_is_bounded_with_a_stalled_client_and_its_503s_say_retry_after():
    env = {"MOTIVNET_DRAIN_TIMEOUT_S": "2", "MOTIVNET_BODY_TIMEOUT_S": "60", "MOTIVNET_HEADER_TIMEOUT_S": "60"}
    with ServerProcess(env=env) as server:
        server.wait_ready()
        stalled = _raw(server.port)
        stalled.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 9000\r\n\r\nab"
        )
        keep = httpx.Client(base_url=server.url, timeout=5)
        assert keep.get("/health/ready").status_code == 200
        start = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        ready = keep.get("/health/ready")
        assert ready.status_code == 503
        assert ready.headers["retry-after"]
        server.process.wait(timeout=30)
        elapsed = time.monotonic() - start
        stalled.close()
    assert elapsed < 2 + 3, f"exit took {elapsed:.1f} s with a drain timeout of 2 s"
