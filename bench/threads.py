"""The thread sweep behind `motivnet_serve.core.runtime.ThreadPolicy`: one model's forward at each torch thread count,
alone and beside busy detection-sized work, thread counts alternated so a shared machine's drift falls on all.

A forward's threads are set on the thread that runs it, as the batch worker does (`use_threads`).
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.raw import median_seconds
from motivnet_serve.core.loading import load_predictor
from motivnet_serve.core.runtime import usable_cores, use_threads


@dataclass
class SweepResult:
    threads: int
    batch_size: int
    beside_busy: bool
    median_ms: float

    @property
    def images_per_s(self) -> float:
        return 1000 * self.batch_size / self.median_ms


def _busy_core(stop: threading.Event) -> None:
    """One thread of one-threaded torch work, as a detection worker is, until `stop`."""
    use_threads(1)
    x = torch.randn(256, 256)
    while not stop.is_set():
        x @ x


def _forward_ms(
    predict: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor, threads: int, repeats: int
) -> float:
    use_threads(threads)
    predict(batch)
    return median_seconds(lambda: predict(batch), repeats) * 1000


def sweep(model_dir: str, batch_sizes: list[int], repeats: int, rounds: int) -> list[SweepResult]:
    """Median forward time per (threads, batch, beside a busy core), medians over `rounds` alternations."""
    predictor = load_predictor(model_dir, Path(model_dir).parent, "cpu", "float32")
    face = torch.full((480, 640, 3), 128, dtype=torch.uint8)
    results = []
    for beside_busy in (False, True):
        stop = threading.Event()
        busy = threading.Thread(target=_busy_core, args=(stop,), daemon=True)
        if beside_busy:
            busy.start()
        for batch_size in batch_sizes:
            batch = predictor.preprocess([face] * batch_size)
            counts = list(range(1, usable_cores() + 1))
            runs: dict[int, list[float]] = {n: [] for n in counts}
            for _ in range(rounds):
                for n in counts:
                    runs[n].append(_forward_ms(predictor.predict, batch, n, repeats))
            results += [SweepResult(n, batch_size, beside_busy, statistics.median(runs[n])) for n in counts]
        stop.set()
    return results


def format_sweep(results: list[SweepResult]) -> str:
    lines = [f"{'beside busy core':>16} {'batch':>5} {'threads':>7} {'median ms':>10} {'images/s':>9}"]
    for r in results:
        busy = "yes" if r.beside_busy else "no"
        lines.append(f"{busy:>16} {r.batch_size:5d} {r.threads:7d} {r.median_ms:10.2f} {r.images_per_s:9.2f}")
    return "\n".join(lines)
