"""The contract between a model family and everything that serves it (CLI, batcher, HTTP).

A predictor knows nothing about queues or requests: it turns a list of face images into a batch on its
device, runs the batch, and reports probabilities in the service's label order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch


@dataclass(frozen=True)
class ModelInfo:
    """What `/v1/models` and the CLI report about the loaded model."""

    name: str
    family: str
    labels: tuple[str, ...]
    parameters: int
    device: str
    dtype: str
    checkpoint: str
    checkpoint_sha256: str
    architecture: dict[str, Any] = field(default_factory=dict)


class Predictor(Protocol):
    """A loaded model. `preprocess` and `predict` run on the worker thread, never on the event loop."""

    info: ModelInfo

    def preprocess(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """HxWx3 uint8 RGB images of any sizes -> the model's input batch on its device."""
        ...

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        """Input batch -> float32 probabilities [B, len(labels)] on the CPU, in `info.labels` order."""
        ...


def probabilities_by_label(labels: Sequence[str], row: Sequence[float]) -> dict[str, float]:
    return dict(zip(labels, (float(p) for p in row)))


def file_sha256(path: Path, chunk_bytes: int = 1 << 22) -> str:
    """Streamed, so hashing a 4.6 GB checkpoint costs no memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
