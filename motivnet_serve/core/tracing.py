"""Request tracing behind a no-op default: the engine, admission and the batcher mark their stages here.

With tracing off (the default) every call below is a function call that returns a shared null context: this
service imports nothing of OpenTelemetry (FastAPI 0.16x imports its API for instrumentation of its own, which
stays inactive without a global tracer provider) and no span object is made. `start` turns it on for the
process when an OTLP endpoint is configured (the SDK's own `OTEL_EXPORTER_OTLP_*` variables) and the `otel`
extra is installed; the SDK-backed implementation lives in `motivnet_serve.core.otel`, imported only then.

A batch serves several requests, and its forward is recorded as a child span of each request it served (with the
batch's size and that request's share), so each request's trace holds its own forward: a slow request is
followed to the batch it ran in without leaving its trace.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

log = logging.getLogger(__name__)

SERVICE_NAME = "motivnet-serve"
"""The `service.name` the traces carry unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) names another."""

AttributeValue = str | int | float | bool
Parent = object
"""Where a span recorded later belongs (an opaque context captured with `parent()`); None when not traced."""

FRAMES_PER_SESSION = 64
"""Frames of one video or live session that get spans; the rest are answered untraced (`SpanBudget`)."""

_NULL: AbstractContextManager[None] = nullcontext()


class Tracing(Protocol):
    """What a tracing implementation offers; `_Off` and `motivnet_serve.core.otel.OtelTracing` are the two."""

    def span(self, name: str, attributes: dict[str, AttributeValue]) -> AbstractContextManager[None]: ...

    def server(
        self, name: str, headers: Iterable[tuple[bytes, bytes]], attributes: dict[str, AttributeValue]
    ) -> AbstractContextManager[ServerSpan]: ...

    def parent(self) -> Parent | None: ...

    def record(
        self, parent: Parent, name: str, start_ns: int, end_ns: int, attributes: dict[str, AttributeValue]
    ) -> None: ...

    def muted(self) -> AbstractContextManager[None]: ...

    def trace_id(self) -> str | None: ...

    def shutdown(self) -> None: ...


class ServerSpan(Protocol):
    """The span of one HTTP request or WebSocket session; the middleware adds the answer's status to it."""

    def set(self, key: str, value: AttributeValue) -> None: ...


class _NoSpan:
    def set(self, key: str, value: AttributeValue) -> None:
        """Off: nothing to set."""


class _Off:
    """Tracing off: no span is made, no context is read."""

    _server: AbstractContextManager[ServerSpan] = nullcontext(_NoSpan())

    def span(self, name: str, attributes: dict[str, AttributeValue]) -> AbstractContextManager[None]:  # noqa: ARG002
        return _NULL

    def server(
        self,
        name: str,  # noqa: ARG002 - off, a request's name, headers and attributes are not read
        headers: Iterable[tuple[bytes, bytes]],  # noqa: ARG002
        attributes: dict[str, AttributeValue],  # noqa: ARG002
    ) -> AbstractContextManager[ServerSpan]:
        return self._server

    def parent(self) -> Parent | None:
        return None

    def record(
        self, parent: Parent, name: str, start_ns: int, end_ns: int, attributes: dict[str, AttributeValue]
    ) -> None:
        """Never called: nothing is traced, so no parent exists."""

    def muted(self) -> AbstractContextManager[None]:
        return _NULL

    def trace_id(self) -> str | None:
        return None

    def shutdown(self) -> None:
        """Nothing buffered."""


_tracing: Tracing = _Off()


def start(endpoint: str | None) -> bool:
    """Turns tracing on for the process when `endpoint` (the configured OTLP endpoint) is set; False, with one
    error line, when it is set but the `otel` extra is missing, so the server still serves without traces."""
    global _tracing
    if not endpoint:
        return False
    try:
        from motivnet_serve.core.otel import OtelTracing
    except ImportError as exc:
        log.error(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed (%s); serving without traces: "
            "install the extra with pip install 'motivnet-serve[otel]'",
            exc,
        )
        return False
    _tracing = OtelTracing.from_environment(SERVICE_NAME)
    log.info("tracing on: spans go to %s over OTLP/HTTP", endpoint)
    return True


def stop() -> None:
    """Sends the spans still buffered and turns tracing off (at exit)."""
    global _tracing
    _tracing.shutdown()
    _tracing = _Off()


def span(name: str, **attributes: AttributeValue) -> AbstractContextManager[None]:
    """A child of the current span for the block (the current one inside it)."""
    return _tracing.span(name, attributes)


def server(
    name: str, headers: Iterable[tuple[bytes, bytes]], **attributes: AttributeValue
) -> AbstractContextManager[ServerSpan]:
    """The span of a request, continuing the caller's trace when its headers carry a W3C `traceparent`."""
    return _tracing.server(name, headers, attributes)


def parent() -> Parent | None:
    """The current span, for work recorded later on another task (a face's batch); None when not traced."""
    return _tracing.parent()


def muted() -> AbstractContextManager[None]:
    """Nothing inside the block is traced (a session's frames past its span budget)."""
    return _tracing.muted()


def trace_id() -> str | None:
    """The current trace's id (32 hex digits) for log lines; None when not traced."""
    return _tracing.trace_id()


def record_batch(served: Sequence[tuple[Parent, float]], size: int, start_ns: int, end_ns: int) -> None:
    """For each request a batch served (`served`: one (parent, queue wait in seconds) per traced face), a `queue`
    span (its longest wait, ending as the batch began) and a `batch` span with the batch's size and its share."""
    shares: dict[int, tuple[Parent, int, float]] = {}
    for owner, waited_s in served:
        _, count, longest = shares.get(id(owner), (owner, 0, 0.0))
        shares[id(owner)] = (owner, count + 1, max(longest, waited_s))
    for owner, share, waited_s in shares.values():
        _tracing.record(owner, "queue", start_ns - int(waited_s * 1e9), start_ns, {"motivnet.faces": share})
        attributes: dict[str, AttributeValue] = {"motivnet.batch.size": size, "motivnet.batch.share": share}
        _tracing.record(owner, "batch", start_ns, end_ns, attributes)


class SpanBudget:
    """At most `limit` spans of one kind in a session (a video's frames, a stream's): the ones after it, and
    everything inside them, are not traced, so a ten-minute video makes a bounded trace."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def span(self, name: str, **attributes: AttributeValue) -> AbstractContextManager[None]:
        if self.left <= 0:
            return muted()
        self.left -= 1
        return span(name, **attributes)
