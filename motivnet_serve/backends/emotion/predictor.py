"""The contract between a model family and everything that serves it (CLI, batcher, HTTP).

A predictor knows nothing about queues or requests: it turns a list of face images into a batch on its
device, runs the batch, and reports probabilities in the service's label order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from pydantic import BaseModel, ConfigDict, Field

from motivnet_serve.backends.emotion.spec import ModelSpec
from motivnet_serve.backends.torch_runtime.acceleration import Acceleration
from motivnet_serve.backends.torch_runtime.compile_cache import CompileCache, CompileKey
from motivnet_serve.backends.torch_runtime.compiled import CompiledModel


class ModelInfo(BaseModel):
    """What `/v1/models` and the CLI report about the loaded model."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    name: str
    family: str
    labels: tuple[str, ...]
    parameters: int
    device: str
    dtype: str
    checkpoint: str = Field(description="The checkpoint's file name inside its model folder.")
    checkpoint_sha256: str
    architecture: dict[str, Any] = Field(default_factory=dict)


class Predictor(Protocol):
    """A loaded model. `preprocess` and `predict` run on the worker thread, never on the event loop."""

    info: ModelInfo

    def preprocess(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """HxWx3 uint8 RGB images of any sizes -> the model's input batch on its device."""
        ...

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        """Input batch -> float32 probabilities [B, len(labels)] on the CPU, in `info.labels` order."""
        ...

    def warmed_up(self) -> None:
        """Called once every warm-up batch size has run (a compiled model then saves its cache)."""
        ...


def file_sha256(path: Path, chunk_bytes: int = 1 << 22) -> str:
    """Streamed, so hashing a 4.6 GB checkpoint costs no memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def describe_loaded(spec: ModelSpec, model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> ModelInfo:
    """The `ModelInfo` of a model folder once its weights are loaded; every family reports the same way."""
    return ModelInfo(
        name=spec.name,
        family=spec.family,
        labels=spec.labels,
        parameters=count_parameters(model),
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        checkpoint=spec.checkpoint,
        checkpoint_sha256=file_sha256(spec.checkpoint_path),
        architecture=spec.architecture.model_dump(exclude={"preset"}, exclude_none=True),
    )


def runnable(
    model: torch.nn.Module, acceleration: Acceleration, info: ModelInfo, device: torch.device
) -> torch.nn.Module | CompiledModel:
    """The eager model, or it compiled (dynamic batch dimension) with the compile cache of its own key."""
    if not acceleration.compile:
        return model
    cache = None
    if acceleration.cache_dir is not None:
        key = CompileKey.of(info.checkpoint_sha256, device, info.dtype, acceleration.mode, acceleration.fp8)
        cache = CompileCache(acceleration.cache_dir, key)
    return CompiledModel(model, acceleration.mode, cache)


def finish_warmup(model: torch.nn.Module | CompiledModel) -> None:
    """After warm-up a compiled model saves its kernels for the next start; an eager one has nothing to do."""
    if isinstance(model, CompiledModel):
        model.warmed_up()
