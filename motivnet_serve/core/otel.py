"""Tracing through the OpenTelemetry SDK, exporting over OTLP/HTTP (protobuf); imported only when tracing is on.

Everything is configured by the SDK's standard variables: the endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), headers, `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER` (and its argument),
`OTEL_PROPAGATORS` (W3C trace context by default) and the batch processor's `OTEL_BSP_*`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar

from opentelemetry import context, propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

AttributeValue = str | int | float | bool
"""As `motivnet_serve.core.tracing` has it (this module must not import that one, which imports this one)."""

_NULL: AbstractContextManager[None] = nullcontext()
_muted: ContextVar[bool] = ContextVar("motivnet_tracing_muted", default=False)


class _OtelServerSpan:
    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set(self, key: str, value: AttributeValue) -> None:
        self._span.set_attribute(key, value)


def _resource(default_name: str) -> Resource:
    """The SDK's resource from the environment, named `default_name` unless the environment names the service."""
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "unknown_service")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: default_name}))
    return detected


def _dotted(attributes: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
    """`motivnet_frame` (a keyword argument's spelling) as `motivnet.frame` (OpenTelemetry's namespacing)."""
    return {key.replace("motivnet_", "motivnet.", 1): value for key, value in attributes.items()}


class OtelTracing:
    """Spans through one SDK tracer provider; a muted block (`muted`) makes none."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("motivnet_serve")

    @classmethod
    def from_environment(cls, default_name: str) -> OtelTracing:
        provider = TracerProvider(resource=_resource(default_name))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider)

    def span(self, name: str, attributes: dict[str, AttributeValue]) -> AbstractContextManager[None]:
        if _muted.get():
            return _NULL
        return self._current(name, _dotted(attributes))

    @contextmanager
    def _current(self, name: str, attributes: dict[str, AttributeValue]) -> Iterator[None]:
        with self._tracer.start_as_current_span(name, attributes=attributes):
            yield

    @contextmanager
    def server(
        self, name: str, headers: Iterable[tuple[bytes, bytes]], attributes: dict[str, AttributeValue]
    ) -> Iterator[_OtelServerSpan]:
        carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in headers}
        caller = propagate.extract(carrier)
        with self._tracer.start_as_current_span(
            name, context=caller, kind=trace.SpanKind.SERVER, attributes=attributes
        ) as span:
            yield _OtelServerSpan(span)

    def parent(self) -> context.Context | None:
        if _muted.get() or not trace.get_current_span().is_recording():
            return None
        return context.get_current()

    def record(
        self, parent: object, name: str, start_ns: int, end_ns: int, attributes: dict[str, AttributeValue]
    ) -> None:
        assert isinstance(parent, context.Context)
        span = self._tracer.start_span(name, context=parent, attributes=attributes, start_time=start_ns)
        span.end(end_time=end_ns)

    @contextmanager
    def muted(self) -> Iterator[None]:
        token = _muted.set(True)
        try:
            yield
        finally:
            _muted.reset(token)

    def trace_id(self) -> str | None:
        span_context = trace.get_current_span().get_span_context()
        return format(span_context.trace_id, "032x") if span_context.is_valid else None

    def shutdown(self) -> None:
        self._provider.shutdown()
