"""From the settings to the few values each route and pipeline uses.

Read here once, by the composition roots (`create_app`, the CLI), so that no route, upload reader or pipeline
holds the whole `Settings`: each gets the handful of numbers it acts on, and a test can build those alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from motivnet_serve.pipelines.analysis import Pacing
from motivnet_serve.pipelines.decode import VideoLimits
from motivnet_serve.pipelines.live import StreamLimits
from motivnet_serve.router.uploads import BodyLimits
from motivnet_serve.router.video_lines import VideoRules
from motivnet_serve.settings import Settings


@dataclass(frozen=True)
class RouteLimits:
    """Everything the routes and the server's drain read, and nothing else."""

    request_timeout_s: float
    upload: BodyLimits
    max_files: int
    video: VideoRules
    stream: StreamLimits
    stream_idle_timeout_s: float
    drain_timeout_s: float


def route_limits(settings: Settings) -> RouteLimits:
    limits = settings.limits
    return RouteLimits(
        request_timeout_s=settings.request_timeout_ms / 1000,
        upload=BodyLimits(limits.max_upload_bytes, settings.connections.body_timeout_s),
        max_files=limits.max_files_per_request,
        video=video_rules(settings),
        stream=StreamLimits(
            max_message_bytes=limits.max_stream_message_bytes,
            max_frame_pixels=limits.max_frame_pixels,
            frames_in_flight=limits.stream_frames_in_flight,
            frame_timeout_s=settings.request_timeout_ms / 1000,
            min_score=settings.detector.score_threshold,
        ),
        stream_idle_timeout_s=limits.stream_idle_timeout_s,
        drain_timeout_s=settings.connections.drain_timeout_s,
    )


def video_rules(settings: Settings) -> VideoRules:
    """A video's upload, size and pacing limits: the same for /v1/video and the CLI's predict-video."""
    limits = settings.limits
    return VideoRules(
        upload=BodyLimits(limits.max_video_bytes, settings.connections.body_timeout_s),
        video=VideoLimits(limits.max_video_seconds, limits.max_frame_pixels),
        pacing=Pacing(
            frames_in_flight=limits.video_frames_in_flight,
            frame_timeout_s=settings.request_timeout_ms / 1000,
            min_score=settings.detector.score_threshold,
        ),
    )


@dataclass(frozen=True)
class GrpcEndpoint:
    """Where the Open Inference Protocol's gRPC server listens, and the keys its calls must carry."""

    host: str
    port: int
    api_keys: tuple[str, ...]


def grpc_endpoint(settings: Settings) -> GrpcEndpoint | None:
    """The gRPC server's endpoint, or None when `grpc_port` is unset (no gRPC server)."""
    if settings.grpc_port is None:
        return None
    return GrpcEndpoint(settings.host, settings.grpc_port, settings.api_key_list)
