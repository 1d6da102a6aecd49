"""From the settings to what the engine is started with: the one place every engine's options are made (the
app, the CLI's predict and predict-video, `analyze` and its Ray actors)."""

from __future__ import annotations

from motivnet_serve.core.engine_options import EngineLimits, EngineOptions, ModelToLoad
from motivnet_serve.core.results import BatchingInfo
from motivnet_serve.settings import Settings


def engine_options(settings: Settings) -> EngineOptions:
    limits = settings.limits
    return EngineOptions(
        model=ModelToLoad(
            model_dir=settings.model_dir,
            model_store=settings.model_store,
            device=settings.device,
            dtype=settings.dtype,
            compile=settings.compile,
            detector=settings.detector,
        ),
        batching=BatchingInfo(
            max_batch_size=settings.max_batch_size,
            max_batch_delay_ms=settings.max_batch_delay_ms,
            max_queue_size=settings.max_queue_size,
            request_timeout_ms=settings.request_timeout_ms,
        ),
        limits=EngineLimits(
            max_requests_in_flight=limits.max_requests_in_flight,
            max_request_pixels=limits.max_request_pixels,
            max_pixels_in_flight=limits.max_pixels_in_flight,
            admission_wait_ms=limits.admission_wait_ms,
            max_videos_in_flight=limits.max_videos_in_flight,
            max_streams=limits.max_streams,
            max_image_pixels=limits.max_image_pixels,
        ),
    )
