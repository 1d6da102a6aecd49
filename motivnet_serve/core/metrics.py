"""Every Prometheus metric the service exports, in one place, under the `motivnet_` prefix.

Each app owns a registry (tests build many apps in one process). The batcher reports through the
`BatchObserver` methods, so the queue code knows nothing about Prometheus.
"""

from __future__ import annotations

import torch
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

from motivnet_serve.core.admission import ADMISSION_REASONS
from motivnet_serve.core.batch_step import warmup_sizes

REJECT_REASONS = ("queue_full", "timeout", "cancelled")
REQUEST_REJECT_REASONS = (*ADMISSION_REASONS, "timeout", "connections")
OIP_INFER = "/v2/models/{name}/infer"
GRPC_INFER, GRPC_STREAM = "grpc ModelInfer", "grpc ModelStreamInfer"
"""The Open Inference Protocol's infer calls: REST (any model name or version counts here) and gRPC (a
stream counts once, when it ends, with the status its last answer had)."""
ENDPOINTS = (
    "/predict",
    "/v1/video",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/v1/models",
    OIP_INFER,
    GRPC_INFER,
    GRPC_STREAM,
    "other",
)
FRAME_SOURCES = ("video", "stream")
STREAM_OUTCOMES = ("ok", "skipped", "error")
FAILURE_ANSWERS = ("frame_error", "stopped")
"""What a server bug met on a frame became: that frame's error answer (the video or session goes on), or the
end of the video's analysis (its summary follows) or of the live session (closed with 1011)."""
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
INFERENCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def batch_size_buckets(max_batch_size: int) -> tuple[float, ...]:
    """The batch sizes warm-up runs (1, 2, 4, ... and the largest), so every bucket can fill."""
    return tuple(float(size) for size in warmup_sizes(max_batch_size))


class Metrics:
    """The service's metrics; also the batcher's observer."""

    def __init__(self, max_batch_size: int) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "motivnet_requests", "HTTP requests by endpoint and status.", ["endpoint", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "motivnet_request_duration_seconds",
            "End-to-end request time.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_seconds = Histogram(
            "motivnet_queue_duration_seconds", "Time a face waited in the queue.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.inference_seconds = Histogram(
            "motivnet_inference_duration_seconds",
            "Time of one batch (preprocess + forward).",
            buckets=INFERENCE_BUCKETS,
            registry=r,
        )
        self.detection_seconds = Histogram(
            "motivnet_detection_duration_seconds",
            "Time to find and crop the faces of one request's images.",
            buckets=INFERENCE_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "motivnet_batch_size", "Faces per forward pass.", buckets=batch_size_buckets(max_batch_size), registry=r
        )
        self.queue_depth_gauge = Gauge("motivnet_queue_depth", "Faces waiting for the model.", registry=r)
        self.faces = Counter("motivnet_faces", "Faces classified.", registry=r)
        self.rejections = Counter("motivnet_rejected", "Faces refused or dropped, by reason.", ["reason"], registry=r)
        self.requests_in_flight = Gauge(
            "motivnet_requests_in_flight",
            "Requests admitted and not yet answered (reading, decoding, queued).",
            registry=r,
        )
        self.pixels_in_flight = Gauge(
            "motivnet_pixels_in_flight",
            "Pixels reserved by requests: images decoding or detecting, queued crops.",
            registry=r,
        )
        self.request_rejections = Counter(
            "motivnet_requests_rejected",
            "Requests or connections refused before any work, by reason.",
            ["reason"],
            registry=r,
        )
        ProcessCollector(registry=r)
        self.model_load_seconds = Gauge("motivnet_model_load_seconds", "Time to load and warm the model.", registry=r)
        self.gpu_allocated = Gauge("motivnet_gpu_memory_allocated_bytes", "CUDA memory held by tensors.", registry=r)
        self.gpu_reserved = Gauge(
            "motivnet_gpu_memory_reserved_bytes", "CUDA memory reserved by the allocator.", registry=r
        )
        self.video_frames = Counter("motivnet_video_frames", "Sampled video frames analysed.", registry=r)
        self.streams_active = Gauge("motivnet_streams_active", "Open /v1/stream sessions.", registry=r)
        self.videos_active = Gauge("motivnet_videos_active", "Videos /v1/video is analysing.", registry=r)
        self.stream_frames = Counter(
            "motivnet_stream_frames", "Live stream frames by outcome.", ["outcome"], registry=r
        )
        self.frame_failures = Counter(
            "motivnet_frame_failures",
            "Video or live frames that met a server bug (each logged once), by source and what it became.",
            ["source", "answer"],
            registry=r,
        )
        self.frame_seconds = Histogram(
            "motivnet_frame_latency_seconds",
            "Time from a frame's arrival (video: its decoding) to its answer.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._device: torch.device | None = None
        for outcome in STREAM_OUTCOMES:
            self.stream_frames.labels(outcome)
        for source in FRAME_SOURCES:
            self.frame_seconds.labels(source)
            for answer in FAILURE_ANSWERS:
                self.frame_failures.labels(source, answer)
        for reason in REJECT_REASONS:
            self.rejections.labels(reason)
        for reason in REQUEST_REJECT_REASONS:
            self.request_rejections.labels(reason)
        for endpoint in ENDPOINTS:
            self.request_seconds.labels(endpoint)

    def queue_depth(self, depth: int) -> None:
        self.queue_depth_gauge.set(depth)

    def dequeued(self, waited_seconds: float) -> None:
        self.queue_seconds.observe(waited_seconds)

    def batch_done(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.inference_seconds.observe(seconds)
        self.faces.inc(size)

    def rejected(self, reason: str, count: int) -> None:
        self.rejections.labels(reason).inc(count)

    def video_frame_done(self, seconds: float) -> None:
        self.video_frames.inc()
        self.frame_seconds.labels("video").observe(seconds)

    def stream_frame_done(self, outcome: str, seconds: float) -> None:
        """A live frame answered; a skipped frame's wait is not a latency, so only answers are timed."""
        self.stream_frames.labels(outcome).inc()
        if outcome != "skipped":
            self.frame_seconds.labels("stream").observe(seconds)

    def frame_failed(self, source: str, answer: str = "frame_error") -> None:
        self.frame_failures.labels(source, answer).inc()

    def in_flight(self, requests: int, pixels: int) -> None:
        self.requests_in_flight.set(requests)
        self.pixels_in_flight.set(pixels)

    def refused(self, reason: str) -> None:
        self.request_rejections.labels(reason).inc()

    def request_done(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.request_seconds.labels(endpoint).observe(seconds)

    def watch_device(self, device: torch.device) -> None:
        """The device whose memory the GPU gauges report at each scrape (CUDA only)."""
        self._device = device

    def render(self) -> bytes:
        if self._device is not None and self._device.type == "cuda":
            self.gpu_allocated.set(torch.cuda.memory_allocated(self._device))
            self.gpu_reserved.set(torch.cuda.memory_reserved(self._device))
        return generate_latest(self.registry)
