"""Traces from a real server process, exported over OTLP/HTTP to a real receiver the test starts, decoded from
their protobufs: span names, parents, the caller's trace continued, the batch's attributes; and, with tracing
off, nothing of OpenTelemetry imported at all."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.otlp_receiver import Receiver, Span, otlp_receiver, tracing_env
from bench.server_process import ROOT, ServerProcess
from tests.held_server import Gate

pytestmark = [pytest.mark.server, pytest.mark.slow]

SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    with otlp_receiver() as pair:
        yield pair


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def one(spans: list[Span], name: str, trace_id: str) -> Span:
    found = [span for span in spans if span.name == name and span.trace_id == trace_id]
    assert len(found) == 1, (name, [span.name for span in spans if span.trace_id == trace_id])
    return found[0]


def has(name: str, trace_id: str, count: int = 1):
    return lambda spans: sum(s.name == name and s.trace_id == trace_id for s in spans) >= count


def test_a_photo_request_is_one_trace_continuing_the_callers(receiver, face_png):
    spans_in, endpoint = receiver
    header, trace_id, caller_span = traceparent()
    with ServerProcess(env=tracing_env(endpoint)) as server:
        server.wait_ready()
        files = [("file", (f"{i}.png", face_png.read_bytes(), "image/png")) for i in range(2)]
        response = httpx.post(f"{server.url}/predict", files=files, headers={"traceparent": header}, timeout=120)
        spans = spans_in.wait_for(has("POST /predict", trace_id))
    assert response.status_code == 200, response.text
    request = one(spans, "POST /predict", trace_id)
    assert (request.parent_id, request.kind, request.service) == (caller_span, SERVER_KIND, "motivnet-serve")
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["motivnet.request_id"] == response.headers["x-request-id"]
    classify = one(spans, "classify", trace_id)
    for name in ("admission", "upload", "classify"):
        assert one(spans, name, trace_id).parent_id == request.span_id, name
    children = [span for span in spans if span.parent_id == classify.span_id]
    names = sorted(span.name for span in children)
    assert names.count("decode") == 2, names
    assert names.count("detection") == 2, names
    faces = sum(len(result["faces"]) for result in response.json()["results"])
    batches = [span for span in children if span.name == "batch"]
    assert sum(span.attributes["motivnet.batch.share"] for span in batches) == faces
    assert all(span.attributes["motivnet.batch.size"] >= span.attributes["motivnet.batch.share"] for span in batches)
    assert len([span for span in children if span.name == "queue"]) == len(batches)
    assert all(classify.start_ns <= span.start_ns <= span.end_ns <= classify.end_ns for span in children)


def test_each_request_a_batch_served_gets_the_batch_with_its_size_and_share(receiver, face_png, tmp_path: Path):
    spans_in, endpoint = receiver
    gate = Gate(tmp_path)
    body, png = face_png.read_bytes(), {"content-type": "image/png"}
    parents = [traceparent() for _ in range(3)]
    options = ("--max-batch-size", "8", "--max-batch-delay-ms", "0")
    try:
        with ServerProcess(*options, module="tests.held_server", env={**gate.env, **tracing_env(endpoint)}) as server:
            server.wait_ready()

            async def scenario() -> list[httpx.Response]:
                async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:

                    def post(header: str) -> asyncio.Future[httpx.Response]:
                        headers = {**png, "traceparent": header}
                        return asyncio.ensure_future(
                            client.post("/predict?detect=false", content=body, headers=headers)
                        )

                    first = post(parents[0][0])
                    await asyncio.to_thread(gate.wait_batch)
                    others = [post(header) for header, _, _ in parents[1:]]
                    await asyncio.to_thread(lambda: _until_queued(server, 2))
                    gate.release(b"gg")
                    return await asyncio.gather(first, *others)

            responses = asyncio.run(scenario())
            spans = spans_in.wait_for(lambda spans: all(has("batch", t)(spans) for _, t, _ in parents))
    finally:
        gate.close()
    assert [r.status_code for r in responses] == [200, 200, 200]
    sizes = [one(spans, "batch", trace_id).attributes for _, trace_id, _ in parents]
    assert sizes == [
        {"motivnet.batch.size": 1, "motivnet.batch.share": 1},
        {"motivnet.batch.size": 2, "motivnet.batch.share": 1},
        {"motivnet.batch.size": 2, "motivnet.batch.share": 1},
    ]
    for _, trace_id, _ in parents:
        assert one(spans, "batch", trace_id).parent_id == one(spans, "classify", trace_id).span_id


def _until_queued(server: ServerProcess, depth: int) -> None:
    """Polls the queue gauge; the deadline guards a stall."""
    deadline = time.monotonic() + 60
    while server.metric("motivnet_queue_depth") != depth:
        assert time.monotonic() < deadline, "the requests never queued"


def test_with_tracing_off_no_sdk_exporter_or_tracing_module_of_ours_is_imported(face_png):
    """A served request in a process set up as `serve` sets it up, without the endpoint variable. FastAPI itself
    (0.16x) imports opentelemetry-api for its own optional instrumentation, so the API is allowed; the SDK, the
    exporter and `motivnet_serve.core.otel` must not be loaded."""
    script = f"""
import asyncio, json, sys, httpx
from motivnet_serve.core import tracing
from motivnet_serve.router.app import create_app
from motivnet_serve.router.logs import configure_logging
from motivnet_serve.settings import Settings
settings = Settings(model_dir={str(ROOT / "model_store" / "motivnet-tiny")!r}, device="cpu", warmup=False)
configure_logging(settings)
assert not tracing.start(settings.otlp_endpoint)
async def main():
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            while (await client.get("/health/ready")).status_code != 200:
                await asyncio.sleep(0.05)
            body = open({str(face_png)!r}, "rb").read()
            response = await client.post("/predict", content=body, headers={{"content-type": "image/png"}})
            assert response.status_code == 200, response.text
asyncio.run(main())
print(json.dumps(sorted(name for name in sys.modules if name.startswith(("opentelemetry", "motivnet_serve.core")))))
"""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "FASTAPI_OTEL"))}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "motivnet_serve.core.tracing" in loaded
    assert "motivnet_serve.core.otel" not in loaded
    assert not [name for name in loaded if name.startswith(("opentelemetry.sdk", "opentelemetry.exporter"))]


def test_spans_still_buffered_are_sent_when_the_server_exits_on_sigterm(receiver, face_png):
    """The schedule would send nothing for ten minutes: only the flush at exit can deliver the span."""
    spans_in, endpoint = receiver
    header, trace_id, _ = traceparent()
    env = {**tracing_env(endpoint), "OTEL_BSP_SCHEDULE_DELAY": "600000"}
    with ServerProcess(env=env) as server:
        server.wait_ready()
        headers = {"content-type": "image/png", "traceparent": header}
        response = httpx.post(f"{server.url}/predict", content=face_png.read_bytes(), headers=headers, timeout=120)
        assert response.status_code == 200
        assert not has("POST /predict", trace_id)(spans_in.spans)
        server.terminate()
        server.process.wait(timeout=120)
    spans = spans_in.wait_for(has("POST /predict", trace_id))
    assert one(spans, "batch", trace_id).attributes["motivnet.batch.share"] == 1
