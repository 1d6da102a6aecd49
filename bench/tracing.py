"""The served throughput with tracing off and on, in one sitting: the same server, model, settings and clients,
alternately without and with `OTEL_EXPORTER_OTLP_ENDPOINT` (spans exported to a loopback receiver that only
counts them, with the SDK's default batching), so a shared machine's drifting load falls on both alike.

Besides throughput and latency, each run reports the server's CPU milliseconds per answered request (its
/proc counters over the load): on a machine others share, throughput swings with their load, while the CPU a
request costs the server moves much less, so it shows what tracing adds more steadily."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench.load import LoadResult, measure
from bench.server_process import ServerProcess
from motivnet_serve.core import tracing

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
SPAN_REQUESTS = 150
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass
class Setting:
    name: str
    env: dict[str, str]
    runs: list[LoadResult] = field(default_factory=list)
    cpu_ms_per_request: list[float] = field(default_factory=list)
    spans_cpu_us: list[float] = field(default_factory=list)

    def median(self, metric: str) -> float:
        values = self.cpu_ms_per_request if metric == "cpu_ms" else [getattr(run, metric) for run in self.runs]
        return statistics.median(values)


def measure_tracing(options: list[str], load: dict, rounds: int, startup_timeout: float) -> tuple[list[Setting], int]:
    """Runs per setting, off first in each round, and how many exports the receiver took (0 would mean the
    'on' servers never traced, and the comparison would be void). The receiver needs the otel extra, so it is
    imported here: every other `python -m bench` command runs without it (the GPU image has no OTLP protos)."""
    from bench.otlp_receiver import otlp_receiver, tracing_env

    with otlp_receiver(decode_spans=False) as (receiver, endpoint):
        settings = [Setting("tracing off", {}), Setting("tracing on", tracing_env(endpoint, schedule_delay_ms=None))]
        for _ in range(rounds):
            for setting in settings:
                _run(setting, options, load, startup_timeout)
                with _environment(setting.env):
                    setting.spans_cpu_us.append(spans_cpu_us(SPAN_REQUESTS, setting.env.get(ENDPOINT)))
        return settings, receiver.exports


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """`env` in this process's environment for the block (the SDK reads its exporter's settings there), and
    only for it: the servers started later must not inherit the endpoint."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _run(setting: Setting, options: list[str], load: dict, startup_timeout: float) -> None:
    with ServerProcess(*options, env=setting.env) as server:
        server.wait_ready(startup_timeout)
        before = server.cpu_seconds()
        result = asyncio.run(measure(server.url, **load))
        setting.cpu_ms_per_request.append(1000 * (server.cpu_seconds() - before) / max(1, result.ok + result.errors))
        setting.runs.append(result)


def format_tracing(settings: list[Setting]) -> str:
    lines = [f"{'setting':>12} {'round':>5} {'img/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/req':>10} {'errors':>6}"]
    for setting in settings:
        for index, (r, cpu_ms) in enumerate(zip(setting.runs, setting.cpu_ms_per_request), 1):
            lines.append(
                f"{setting.name:>12} {index:5d} {r.images_per_s:7.2f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {cpu_ms:10.1f} "
                f"{r.errors:6d}"
            )
        medians = [setting.median(metric) for metric in ("images_per_s", "p50_ms", "p99_ms", "cpu_ms")]
        lines.append(
            f"{setting.name:>12} {'med':>5} {medians[0]:7.2f} {medians[1]:8.1f} {medians[2]:8.1f} {medians[3]:10.1f}"
        )
    off, on = settings
    ratios = [on.median(metric) / off.median(metric) for metric in ("images_per_s", "p99_ms", "cpu_ms")]
    lines.append(f"on / off: throughput x{ratios[0]:.3f}, p99 x{ratios[1]:.3f}, cpu per request x{ratios[2]:.3f}")
    spans = [statistics.median(setting.spans_cpu_us) for setting in settings]
    lines.append(
        f"the tracing calls of one photo request, in-process (median of {len(off.spans_cpu_us)}): "
        f"off {spans[0]:.1f} us, on {spans[1]:.1f} us of CPU, "
        f"{(spans[1] - spans[0]) / 10 / off.median('cpu_ms'):.2f}% of a served request's"
    )
    return "\n".join(lines)


def spans_cpu_us(requests: int, endpoint: str | None) -> float:
    """CPU microseconds the tracing calls of one photo request take in this process (the spans a one-image,
    one-face `/predict` makes, the batch's included, and their export), with tracing off (`endpoint` None) or
    exporting to `endpoint`: the cost tracing adds, without the noise of a served run. Keep `requests` under
    200, so the spans fit the processor's queue (2048) and none is dropped uncounted."""
    tracing.start(endpoint)  # the SDK's set-up, once per process, is not a request's cost
    start = time.process_time()
    try:
        for _ in range(requests):
            _one_request()
    finally:
        tracing.stop()  # the export of every span, on the processor's thread, is counted too
    return (time.process_time() - start) / requests * 1e6


def _one_request() -> None:
    with tracing.server("POST /predict", [(b"traceparent", TRACEPARENT)], **{"url.path": "/predict"}) as span:
        with tracing.span("admission", motivnet_in_flight=1, motivnet_waiting=0):
            pass
        with tracing.span("upload"):
            pass
        with tracing.span("classify", motivnet_images=1, motivnet_detect=True):
            with tracing.span("admission.pixels", motivnet_pixels=1):
                pass
            with tracing.span("decode", motivnet_bytes=1):
                pass
            with tracing.span("detection", motivnet_detect=True):
                pass
            parent = tracing.parent()
            if parent is not None:
                now = time.time_ns()
                tracing.record_batch([(parent, 0.001)], 4, now, now + 1000)
        span.set("http.response.status_code", 200)
