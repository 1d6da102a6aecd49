"""What an engine is started with: the model and detector to load, how it batches, the limits it keeps.

The composition roots (the app, the CLI, each Ray actor) build these from the settings in one place
(`motivnet_serve.router.engine_options`), so the engine holds a handful of values it acts on rather than the
whole `Settings`, and a test can start one from these alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from motivnet_serve.core.results import BatchingInfo
from motivnet_serve.settings import CompileOptions, DetectorOptions


@dataclass(frozen=True)
class ModelToLoad:
    """Which model folder, where its weights and the detectors' live, on which device, how it runs."""

    model_dir: str
    model_store: Path
    device: str
    dtype: str
    compile: CompileOptions
    detector: DetectorOptions


@dataclass(frozen=True)
class EngineLimits:
    """The engine's admission and session caps, and the largest image it decodes (the line of requests waiting
    for a slot is as long as the batcher's queue, `BatchingInfo.max_queue_size`)."""

    max_requests_in_flight: int
    max_request_pixels: int
    max_pixels_in_flight: int
    admission_wait_ms: float
    max_videos_in_flight: int
    max_streams: int
    max_image_pixels: int


@dataclass(frozen=True)
class EngineOptions:
    """Everything `Engine.start` reads, besides whether to warm up (each caller's own choice)."""

    model: ModelToLoad
    batching: BatchingInfo
    limits: EngineLimits
