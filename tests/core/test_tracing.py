"""The tracing facade in this process, exporting through the real SDK to a real OTLP/HTTP receiver: the off
default, a session's span budget, a batch's spans per request it served, and the flush at `stop`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench.otlp_receiver import Receiver, otlp_receiver, tracing_env
from motivnet_serve.core import tracing

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """Tracing on for the test, to a receiver; `tracing.stop()` (which flushes) is the test's to call."""
    with otlp_receiver() as (receiver, endpoint):
        for name, value in tracing_env(endpoint).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")  # only the flush at stop() sends
        monkeypatch.setenv("OTEL_SERVICE_NAME", "under-test")
        assert tracing.start(endpoint)
        try:
            yield receiver
        finally:
            tracing.stop()


def test_off_nothing_is_made():
    assert tracing.parent() is None
    assert tracing.trace_id() is None
    with tracing.span("anything", motivnet_x=1), tracing.server("GET /", [(b"traceparent", b"junk")]) as span:
        span.set("http.response.status_code", 200)
        assert tracing.parent() is None


def test_start_without_an_endpoint_stays_off():
    assert not tracing.start(None)
    assert not tracing.start("")
    assert tracing.parent() is None


def test_a_sessions_frames_past_its_budget_and_all_they_hold_are_not_traced(exported):
    budget = tracing.SpanBudget(2)
    with tracing.span("session"):
        for number in range(5):
            with budget.span("frame", motivnet_frame=number), tracing.span("classify"):
                pass
    tracing.stop()
    spans = exported.wait_for(lambda spans: any(span.name == "session" for span in spans))
    assert sorted(span.name for span in spans) == ["classify", "classify", "frame", "frame", "session"]
    assert [span.attributes for span in spans if span.name == "frame"] == [{"motivnet.frame": 0}, {"motivnet.frame": 1}]
    assert {span.service for span in spans} == {"under-test"}


def test_a_batch_is_a_child_of_each_request_it_served_with_that_requests_share(exported):
    parents = []
    for name in ("a", "b"):
        with tracing.span(name):
            parents.append(tracing.parent())
    start_ns = 1_000_000_000_000
    tracing.record_batch([(parents[0], 0.5), (parents[1], 0.25), (parents[0], 0.75)], 3, start_ns, start_ns + 10**6)
    tracing.stop()
    spans = exported.wait_for(lambda spans: sum(span.name == "batch" for span in spans) == 2)
    by_id = {span.span_id: span.name for span in spans}
    batches = {by_id[span.parent_id]: span for span in spans if span.name == "batch"}
    queues = {by_id[span.parent_id]: span for span in spans if span.name == "queue"}
    assert {key: span.attributes for key, span in batches.items()} == {
        "a": {"motivnet.batch.size": 3, "motivnet.batch.share": 2},
        "b": {"motivnet.batch.size": 3, "motivnet.batch.share": 1},
    }
    assert (queues["a"].end_ns - queues["a"].start_ns, queues["b"].end_ns - queues["b"].start_ns) == (750e6, 250e6)
    assert all(span.start_ns == start_ns for span in batches.values())


def test_an_endpoint_without_the_otel_extra_is_one_clear_error_and_serving_goes_on():
    """The base install has no SDK: a process where importing it fails (None in sys.modules is Python's own way
    to say a module is absent) says how to install it, and stays off."""
    script = """
import logging, sys
sys.modules["opentelemetry.sdk"] = None
logging.basicConfig(level="INFO")
from motivnet_serve.core import tracing
print(tracing.start("http://127.0.0.1:4318"), tracing.parent())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["False", "None"]
    assert "pip install 'motivnet-serve[otel]'" in done.stderr
    assert done.stderr.count("ERROR") == 1
