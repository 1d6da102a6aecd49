"""The model's step behind the queue: faces in, probabilities out, one batch at a time on the worker thread.

One bad face must not fail its batch: if the batch cannot be preprocessed, faces are preprocessed one by
one to find the culprit; a row of non-finite probabilities fails that face alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import torch

from motivnet_serve.backends.emotion.predictor import Predictor
from motivnet_serve.backends.faces.finder import warmup_frame
from motivnet_serve.core.errors import InferenceError
from motivnet_serve.core.runtime import use_threads

log = logging.getLogger(__name__)

Outcome = torch.Tensor | Exception


def warmup_sizes(max_batch_size: int) -> list[int]:
    """Powers of two up to the largest batch, and the largest batch itself."""
    sizes, size = [], 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    return [*sizes, max_batch_size]


class BatchStep:
    """Wraps a predictor for the batcher: isolates failing faces and checks every output row."""

    def __init__(self, predictor: Predictor, threads: Callable[[], int] | None = None) -> None:
        """`threads`, on the CPU, says how many torch threads each forward may take as it starts (the engine's
        `ThreadPolicy`); without it the calling thread's count stands."""
        self.predictor = predictor
        self._threads = threads

    def _take_threads(self) -> None:
        if self._threads is not None:
            use_threads(self._threads())

    def __call__(self, faces: Sequence[torch.Tensor]) -> list[Outcome]:
        """Runs on the worker thread; returns one probability row or one exception per face."""
        batch, failures = self._preprocess(faces)
        if batch is None:
            return [failure or InferenceError("no face of the batch could be prepared") for failure in failures]
        self._take_threads()
        probabilities = self.predictor.predict(batch)
        rows = zip(probabilities, torch.isfinite(probabilities).all(dim=1).tolist())
        results: list[Outcome] = []
        for failure in failures:
            if failure is not None:
                results.append(failure)
                continue
            row, finite = next(rows)
            results.append(
                row if finite else InferenceError("the model produced non-finite probabilities for this face")
            )
        return results

    def _preprocess(self, faces: Sequence[torch.Tensor]) -> tuple[torch.Tensor | None, list[Exception | None]]:
        """The batch of good faces, and per face None (good) or its exception."""
        try:
            return self.predictor.preprocess(faces), [None] * len(faces)
        except Exception:
            log.warning("batch preprocessing failed; retrying face by face", exc_info=True)
        good: list[torch.Tensor] = []
        failures: list[Exception | None] = []
        for face in faces:
            try:
                good.append(self.predictor.preprocess([face]))
                failures.append(None)
            except Exception as exc:  # noqa: BLE001 - the client's face, not the server, is at fault
                failures.append(InferenceError(f"this image could not be prepared for the model: {exc}"))
        return (torch.cat(good) if good else None), failures

    def warmup(self, sizes: list[int]) -> float:
        """A forward at each batch size, so the first requests meet warm kernels and allocator (and a
        compiled model has compiled everything it will keep for the next start)."""
        start = time.perf_counter()
        face = warmup_frame()
        self._take_threads()
        for size in sizes:
            self.predictor.predict(self.predictor.preprocess([face] * size))
        self.predictor.warmed_up()
        return time.perf_counter() - start
