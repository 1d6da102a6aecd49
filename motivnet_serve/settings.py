"""The service's settings: one class, read from `MOTIVNET_*` environment variables and CLI options.

Related settings sit in groups (`settings.detector`, `settings.limits`, `settings.connections`,
`settings.compile`), so each part of the service can be handed the group it uses and nothing else. The
environment names stay flat and unchanged (`MOTIVNET_DETECTOR_SCORE_THRESHOLD`, `MOTIVNET_MAX_UPLOAD_BYTES`):
a field's name is its environment name after the prefix, or its `validation_alias` where the group's own
name would make it longer or different from the name deployments already use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

REPO_MODEL_STORE = Path(__file__).resolve().parent.parent / "model_store"
ENV_PREFIX = "MOTIVNET_"

# The closed choices, written once: the detector registry and the CLI take theirs from here.
DetectorName = Literal["auto", "retinaface", "retinaface-mobilenet", "none"]
Dtype = Literal["auto", "float32", "bfloat16", "float16"]
LogLevel = Literal["debug", "info", "warning", "error"]
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]
LogFormat = Literal["text", "json"]
DETECTOR_NAMES: tuple[str, ...] = get_args(DetectorName)
DTYPES: tuple[str, ...] = get_args(Dtype)
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)
LOG_FORMATS: tuple[str, ...] = get_args(LogFormat)

GROUP_CONFIG = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DetectorOptions(BaseModel):
    """Finding faces: which detector, how many threads run it, which boxes count as faces, how crops are cut."""

    model_config = GROUP_CONFIG

    name: DetectorName = Field(
        "auto",
        validation_alias="detector",
        description="Face detector: 'auto' (ResNet-50 RetinaFace if its weights are present, else MobileNet).",
    )
    workers: int = Field(
        0,
        ge=0,
        le=64,
        validation_alias="detect_workers",
        description="Threads finding faces at once. 0: one per CPU core (at most 4) on the CPU, one on a GPU. On "
        "the CPU each thread then runs torch with cores / workers threads of its own.",
    )
    score_threshold: float = Field(
        0.9,
        ge=0,
        le=1,
        validation_alias="detector_score_threshold",
        description="Lowest detector confidence kept as a face.",
    )
    nms_iou: float = Field(
        0.4,
        gt=0,
        le=1,
        validation_alias="detector_nms_iou",
        description="Overlap above which the weaker of two boxes goes.",
    )
    min_face_px: float = Field(
        16.0,
        ge=0,
        validation_alias="detector_min_face_px",
        description="Faces with a shorter box side (pixels) are dropped.",
    )
    max_faces: int = Field(
        32, ge=1, validation_alias="detector_max_faces", description="Most faces reported per image, best first."
    )
    crop_margin: float = Field(0.25, ge=0, description="How much a face's square crop grows around its box.")
    crop_align: bool = Field(False, description="Rotate each crop so the eyes lie level.")


class LimitOptions(BaseModel):
    """What one request, video or live session may ask for, and how much the server takes on at once."""

    model_config = GROUP_CONFIG

    max_upload_bytes: int = Field(
        20 * 1024 * 1024, gt=0, description="Largest request body, enforced while reading it."
    )
    max_image_pixels: int = Field(
        52_000_000,
        gt=0,
        description="Largest image (width x height), checked before decoding; a phone's 48-50 Mpixel mode fits.",
    )
    max_files_per_request: int = Field(16, ge=1, description="Most images in one /predict request.")
    max_video_bytes: int = Field(
        200 * 1024 * 1024, gt=0, description="Largest /v1/video upload, enforced while it streams to a temp file."
    )
    max_video_seconds: float = Field(600.0, gt=0, description="Longest video /v1/video takes, by its declared length.")
    max_frame_pixels: int = Field(
        8_294_400, gt=0, description="Largest video or stream frame (width x height; 3840x2160 by default)."
    )
    video_frames_in_flight: int = Field(
        4, ge=1, description="Sampled frames of one video decoded ahead and classified at once; bounds its share."
    )
    max_videos_in_flight: int = Field(
        2,
        ge=1,
        description="Videos /v1/video analyses at once (each spools up to max_video_bytes to /tmp); one more gets "
        "503 at once.",
    )
    max_streams: int = Field(8, ge=1, description="Open /v1/stream sessions at most; one more is closed with 1013.")
    max_stream_message_bytes: int = Field(
        4 * 1024 * 1024, gt=0, description="Largest /v1/stream frame message; a larger one gets an error reply."
    )
    stream_frames_in_flight: int = Field(
        2, ge=1, description="Frames of one live session classified at once; newer waiting frames replace older."
    )
    stream_idle_timeout_s: float = Field(
        30.0, gt=0, description="A /v1/stream session that sends nothing for this long is closed."
    )
    max_request_pixels: int = Field(
        52_000_000, gt=0, description="Most pixels (all images together) one request may decode; beyond it 413."
    )
    max_pixels_in_flight: int = Field(
        104_000_000,
        gt=0,
        description="Most pixels decoding, detecting or queued across the server; a request without room waits "
        "up to admission_wait_ms, then gets 503.",
    )
    admission_wait_ms: float = Field(
        250.0, ge=0, description="Longest a request waits for room in the pixel budget before 503."
    )
    max_requests_in_flight: int = Field(
        32,
        ge=1,
        description="Requests read, decoded, detected or queued at once (their bodies, up to max_upload_bytes each, "
        "bound memory: 640 MiB by default); more wait in line until their deadline.",
    )

    @property
    def max_temp_bytes(self) -> int:
        """Most bytes the service may hold in /tmp at once when every limit is reached: the videos being analysed,
        each spooled whole, and the photo uploads in flight, which the multipart parser spools past 1 MiB."""
        return self.max_videos_in_flight * self.max_video_bytes + self.max_requests_in_flight * self.max_upload_bytes

    @model_validator(mode="after")
    def _budget_fits(self) -> LimitOptions:
        if self.max_request_pixels > self.max_pixels_in_flight:
            raise ValueError(
                f"max_request_pixels ({self.max_request_pixels}) must not exceed max_pixels_in_flight "
                f"({self.max_pixels_in_flight}): a request of the allowed size could never be admitted"
            )
        return self


class ConnectionOptions(BaseModel):
    """What one HTTP connection may cost the server, and how long it stays open, shutting down included."""

    model_config = GROUP_CONFIG

    max_connections: int = Field(
        512,
        ge=1,
        description="Open connections at most; a new one beyond it closes the longest-idle one (or is refused).",
    )
    header_timeout_s: float = Field(10.0, gt=0, description="Longest a connection may take to send its headers.")
    body_timeout_s: float = Field(
        10.0, gt=0, description="Longest pause while a request body arrives; then 408 and the connection closes."
    )
    keep_alive_timeout_s: float = Field(5.0, gt=0, description="Idle keep-alive connections close after this long.")
    max_header_bytes: int = Field(16384, ge=1024, description="Largest request line plus headers; beyond it 431.")
    drain_timeout_s: float = Field(
        30.0,
        ge=0,
        description="On SIGTERM, longest wait for queued work and open requests; then connections close and it exits.",
    )


class CompileOptions(BaseModel):
    """How the model runs beyond eager PyTorch: torch.compile, its kernel cache, FP8 linear layers."""

    model_config = GROUP_CONFIG

    enabled: Literal["auto"] | bool = Field(
        "auto",
        validation_alias="compile",
        description="torch.compile the model: 'auto' is on for CUDA and off elsewhere (and for one-shot CLI "
        "predict); true or false to force it. If compiling fails, the eager model serves and one error is logged.",
    )
    mode: CompileMode = Field(
        "default",
        validation_alias="compile_mode",
        description="torch.compile mode; 'reduce-overhead' adds CUDA graphs (one per batch size met).",
    )
    cache_dir: str = Field(
        "~/.cache/motivnet/compile",
        validation_alias="compile_cache_dir",
        description="Where compiled kernels are kept between starts, one file per checkpoint, GPU, torch, dtype, "
        "mode and FP8, saved after warm-up; empty: no cache. Mount it as a volume so restarts skip the compile.",
    )
    fp8: bool = Field(
        False,
        description="Run the encoder's linear layers in FP8 (e4m3, per-row scales); needs an FP8 GPU "
        "(compute capability 8.9+: L4, L40S, H100, H200) and bfloat16, refused at start elsewhere. Check the "
        "accuracy on a labelled set first.",
    )


class Settings(BaseSettings):
    """Every knob and its default, written here only: docs/configuration.md and motivnet.env.example are generated
    from these fields (`python -m motivnet_serve settings-docs --write`), and the deployment files carry
    only what differs from them."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    model_dir: str = Field(
        "auto", description="Model folder to serve, or 'auto' (the best one present in the model store)."
    )
    model_store: Path = Field(
        REPO_MODEL_STORE, description="Folder of model folders that 'auto' chooses from; by default the source tree's."
    )
    device: str = Field(
        "auto", description="Torch device: 'auto' (cuda, then mps, then cpu), 'cuda', 'cuda:1', 'cpu', 'mps'."
    )
    dtype: Dtype = Field(
        "auto", description="Weights and activations: 'auto' is bfloat16 on CUDA and float32 elsewhere."
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to ('0.0.0.0' in containers).")
    port: int = Field(8000, ge=0, le=65535, description="Port the HTTP server listens on.")
    grpc_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Port of the Open Inference Protocol's gRPC server (on `host`); unset (the default): no gRPC "
        "server; 0: a free port, logged.",
    )
    max_batch_size: int = Field(8, ge=1, le=1024, description="Most faces in one forward pass.")
    max_batch_delay_ms: float = Field(
        5.0, ge=0, description="Longest a face waits for others to join its batch once the device is free."
    )
    max_queue_size: int = Field(
        256,
        ge=1,
        description="Faces waiting at most, and requests waiting for an in-flight slot; beyond either, 503 at once.",
    )
    request_timeout_ms: float = Field(
        30000.0, gt=0, description="Deadline of a request; faces still queued then get 504."
    )
    api_keys: str = Field(
        "",
        description="Comma-separated bearer tokens; when set, every route except /health/*, the web page and "
        "(with metrics_public) /metrics needs 'Authorization: Bearer <key>'.",
    )
    metrics_public: bool = Field(True, description="Serve /metrics without an API key.")
    cors_allow_origins: str = Field(
        "", description="Comma-separated origins allowed to call the API from a browser ('*' for any); none by default."
    )
    warmup: bool = Field(True, description="Run one forward at each batch size before reporting ready.")
    demo: bool = Field(
        True, description="Serve the demo page at / (photos, video files, webcam); false: the API only, / is 404."
    )
    log_level: LogLevel = Field("info", description="Server log level.")
    detector: DetectorOptions = Field(default_factory=DetectorOptions, description=DetectorOptions.__doc__)
    limits: LimitOptions = Field(default_factory=LimitOptions, description=LimitOptions.__doc__)
    connections: ConnectionOptions = Field(default_factory=ConnectionOptions, description=ConnectionOptions.__doc__)
    compile: CompileOptions = Field(default_factory=CompileOptions, description=CompileOptions.__doc__)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - the hook's signature; replaced below
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then the flat `MOTIVNET_*` names; no .env file or secrets folder is read."""
        return init_settings, FlatEnvironment(settings_cls)

    log_format: LogFormat = Field(
        "text",
        description="Server log lines: 'text' for people, or 'json' (one object per line with the request id and, "
        "when tracing, the trace id; uvicorn's access log on too) for a log pipeline.",
    )

    @property
    def otlp_endpoint(self) -> str | None:
        """Where traces go, when anywhere: tracing is on when the OpenTelemetry SDK's own variable is set
        (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`; the SDK reads the rest itself)."""
        traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        return traces or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None

    @property
    def api_key_list(self) -> tuple[str, ...]:
        return _split(self.api_keys)

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return _split(self.cors_allow_origins)

    @classmethod
    def from_flat(cls, **values: Any) -> Settings:
        """Settings from the flat names the environment uses, without the prefix (`detector="none"`,
        `max_upload_bytes=1024`), the environment filling in the rest: how CLI options and tests name them."""
        unknown = {ENV_PREFIX + name.upper() for name in values} - {setting.env for setting in all_settings()}
        if unknown:
            raise TypeError(f"no such settings: {sorted(unknown)}")
        return cls(**env_values({ENV_PREFIX + name: value for name, value in values.items()}))

    def but(self, group: str, **changes: Any) -> Settings:
        """A copy with some fields of one group changed: the CLI's `--no-detect` (`but("detector", name="none")`)
        and one-shot runs that skip compiling."""
        return self.model_copy(update={group: getattr(self, group).model_copy(update=changes)})

    def offline(self, detect: bool) -> Settings:
        """For a run in this process (CLI `predict`, `analyze`): without detection no detector is loaded, and
        `compile=auto` stays off, since such a run would spend minutes compiling before its first image."""
        settings = self if detect else self.but("detector", name="none")
        return settings.but("compile", enabled=False) if settings.compile.enabled == "auto" else settings

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value.split(":")[0] not in ("auto", "cpu", "cuda", "mps"):
            raise ValueError(f"device {value!r} is not one of auto, cpu, cuda, cuda:N, mps")
        return value


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, where its value sits in `Settings` (field, or group then field),
    and the field that holds its default and description."""

    env: str
    path: tuple[str, ...]
    info: FieldInfo


def groups() -> dict[str, type[BaseModel]]:
    """The group fields of `Settings` and their models, in declaration order."""
    found = {}
    for name, info in Settings.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            found[name] = info.annotation
    return found


def all_settings() -> Iterator[Setting]:
    """Every setting with its environment name, the ungrouped ones first, then each group's."""
    grouped = groups()
    for name, info in Settings.model_fields.items():
        if name not in grouped:
            yield Setting(_env_name(name, info), (name,), info)
    for group, model in grouped.items():
        for name, info in model.model_fields.items():
            yield Setting(_env_name(name, info), (group, name), info)


def _env_name(name: str, info: FieldInfo) -> str:
    alias = info.validation_alias
    return ENV_PREFIX + (alias if isinstance(alias, str) else name).upper()


def env_values(environ: Mapping[str, Any]) -> dict[str, Any]:
    """The settings an environment sets, nested as `Settings` holds them (names matched ignoring case, as
    pydantic-settings does; other names ignored): what `Settings()` reads from the process environment, and
    `Settings(**env_values(env))` what it runs with when a deployment file adds `env`."""
    upper = {key.upper(): value for key, value in environ.items() if key.upper().startswith(ENV_PREFIX)}
    values: dict[str, Any] = {}
    for setting in all_settings():
        if setting.env in upper:
            *parents, field = setting.path
            target = values
            for group in parents:
                target = target.setdefault(group, {})
            target[field] = upper[setting.env]
    return values


class FlatEnvironment(PydanticBaseSettingsSource):
    """Reads each setting from its one flat `MOTIVNET_*` name, grouped fields included; pydantic-settings' own
    source would read a group from one JSON variable (or `__`-joined names) instead."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002
        return None, field_name, False  # unused: __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        return env_values(os.environ)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())
