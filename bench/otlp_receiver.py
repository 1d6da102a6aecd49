"""A real OTLP/HTTP trace receiver on a loopback port: it takes `POST /v1/traces`, decodes each
`ExportTraceServiceRequest` protobuf with opentelemetry-proto, and keeps the spans, so a test can check what a
server exported (names, parents, trace ids, attributes) and wait for them on a condition, not a sleep. For
`bench tracing` it only counts what arrives (`decode_spans=False`), so it takes little of the CPU it measures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    service: str
    start_ns: int
    end_ns: int


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value"))


def decode(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        kind=span.kind,
                        attributes={kv.key: _value(kv.value) for kv in span.attributes},
                        service=str(resource.get("service.name")),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                    )
                )
    return spans


class Receiver:
    """The spans received so far; `wait_for` blocks until a condition on them holds (or fails at its timeout)."""

    def __init__(self, decode_spans: bool) -> None:
        self.spans: list[Span] = []
        self.exports = 0
        self.bytes = 0
        self.decode_spans = decode_spans
        self._changed = threading.Condition()

    def add(self, body: bytes) -> None:
        spans = decode(body) if self.decode_spans else []
        with self._changed:
            self.exports += 1
            self.bytes += len(body)
            self.spans.extend(spans)
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[list[Span]], bool], timeout_s: float = 60) -> list[Span]:
        give_up = time.monotonic() + timeout_s
        with self._changed:
            while not condition(self.spans):
                left = give_up - time.monotonic()
                assert left > 0, f"spans never arrived; got {[span.name for span in self.spans]}"
                self._changed.wait(left)
            return list(self.spans)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            if self.path == "/v1/traces":
                receiver.add(body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            """Quiet: the test reads what arrived, not a log."""

    return Handler


@contextmanager
def otlp_receiver(decode_spans: bool = True) -> Iterator[tuple[Receiver, str]]:
    """The receiver and its base URL (what OTEL_EXPORTER_OTLP_ENDPOINT is set to)."""
    receiver = Receiver(decode_spans)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def tracing_env(endpoint: str, schedule_delay_ms: int | None = 50) -> dict[str, str]:
    """A server's environment that exports to `endpoint` (for tests, within 50 ms of a span's end; None: the
    SDK's default delay, as deployed), never through a proxy."""
    delay = {} if schedule_delay_ms is None else {"OTEL_BSP_SCHEDULE_DELAY": str(schedule_delay_ms)}
    loopback = "127.0.0.1,localhost"
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, **delay, "NO_PROXY": loopback, "no_proxy": loopback}
