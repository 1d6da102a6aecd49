"""The served throughput with tracing off and on, in one sitting: the same server, model, settings and clients,
alternately without and with `OTEL_EXPORTER_OTLP_ENDPOINT` (spans exported to a loopback receiver that only
counts them, with the SDK's default batching), so a shared machine's drifting load falls on both alike."""

from __future__ import annotations

from bench.otlp_receiver import otlp_receiver, tracing_env
from bench.revisions import RevisionRuns, measure_round
from bench.server_process import ROOT


def measure_tracing(
    options: list[str], load: dict, rounds: int, startup_timeout: float
) -> tuple[list[RevisionRuns], int]:
    """Runs per setting, off first in each round, and how many exports the receiver took (0 would mean the
    'on' servers never traced, and the comparison would be void)."""
    with otlp_receiver(decode_spans=False) as (receiver, endpoint):
        off, on = RevisionRuns("tracing off", ROOT), RevisionRuns("tracing on", ROOT)
        for _ in range(rounds):
            measure_round([off], options, {}, load, startup_timeout)
            measure_round([on], options, tracing_env(endpoint, schedule_delay_ms=None), load, startup_timeout)
        return [off, on], receiver.exports
