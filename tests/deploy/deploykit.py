"""Shared facts for the deployment checks: the service's contract, and readers for the files that use it.

The contract (routes, metric names) is written down here once, from the service's interface; the live test
in test_deploy_live.py proves the running app exposes the same names.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from motivnet_serve.settings import Settings, all_settings, env_values

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO / ".out" / "deploy-tools" / "bin"  # where scripts/deploy-tools.sh puts optional tools

ROUTES = frozenset({"/predict", "/health/live", "/health/ready", "/metrics", "/v1/models"})
HISTOGRAMS = frozenset(
    {
        "motivnet_request_duration_seconds",
        "motivnet_queue_duration_seconds",
        "motivnet_inference_duration_seconds",
        "motivnet_detection_duration_seconds",
        "motivnet_batch_size",
        "motivnet_frame_latency_seconds",
    }
)
GPU_METRICS = frozenset({"motivnet_gpu_memory_allocated_bytes", "motivnet_gpu_memory_reserved_bytes"})
METRICS = (
    HISTOGRAMS
    | GPU_METRICS
    | {
        "motivnet_requests_total",
        "motivnet_queue_depth",
        "motivnet_faces_total",
        "motivnet_rejected_total",
        "motivnet_model_load_seconds",
        "motivnet_video_frames_total",
        "motivnet_stream_frames_total",
        "motivnet_streams_active",
    }
)
TORCH_VERSION = re.findall(r"^TORCH_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.MULTILINE)[0]
"""The one torch version: what `make setup` installs for the tests, and what the image's base must carry."""

METRIC_TOKEN = re.compile(r"\bmotivnet_[a-z0-9_]+")
HISTOGRAM_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def env_name(field: str) -> str:
    return f"MOTIVNET_{field.upper()}"


def field_name(env: str) -> str:
    assert env.startswith("MOTIVNET_"), env
    return env.removeprefix("MOTIVNET_").lower()


SETTINGS = {setting.env: setting for setting in all_settings()}
SETTINGS_FIELDS = frozenset(field_name(env) for env in SETTINGS)
"""Every setting by its flat name, as the environment spells it without the prefix (`max_upload_bytes`)."""


def effective_settings(env: dict[str, str]) -> Settings:
    """What the service runs with when a deployment file sets `env` (MOTIVNET_X -> value): the rest are defaults."""
    return Settings(**env_values(env))


def assert_not_defaults(values: dict[str, str]) -> None:
    """A deployment file names a setting only to change it, so a changed default never needs an edit there."""
    parsed = Settings.from_flat(**values)
    repeated = [name for name in values if value_at(parsed, SETTINGS[env_name(name)].path) == default_of(name)]
    assert not repeated, f"these only repeat the code's defaults; leave them out: {sorted(repeated)}"


def value_at(settings: Settings, path: tuple[str, ...]) -> Any:
    """The value at a setting's place in `Settings` (a field, or a group's field)."""
    value: Any = settings
    for name in path:
        value = getattr(value, name)
    return value


def default_of(name: str) -> Any:
    return SETTINGS[env_name(name)].info.default


def metrics_in(expr: str) -> set[str]:
    """Our metric names a PromQL expression reads, with histogram series suffixes folded back."""
    names = set()
    for token in METRIC_TOKEN.findall(expr):
        base = HISTOGRAM_SUFFIX.sub("", token)
        names.add(base if base in HISTOGRAMS else token)
    return names


@dataclass(frozen=True)
class Reset:
    """Compose's `!reset` / `!override` tags, kept visible instead of failing the safe loader."""

    tag: str
    value: Any


class ComposeLoader(yaml.SafeLoader):
    pass


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    if isinstance(node, yaml.SequenceNode):
        value: Any = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    return Reset(node.tag, value)


for _tag in ("!reset", "!override"):
    ComposeLoader.add_constructor(_tag, _tagged)


def load_yaml(relative: str) -> Any:
    return yaml.load((REPO / relative).read_text(), Loader=ComposeLoader)


def load_yaml_all(relative: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all((REPO / relative).read_text()) if doc is not None]


def read_env_file(relative: str) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv file; comments and blank lines skipped."""
    values = {}
    for line in (REPO / relative).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def seconds(duration: str | int | float) -> float:
    """Compose/Prometheus durations ('1m30s', '300s', 60) in seconds."""
    if isinstance(duration, (int, float)):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts, f"not a duration: {duration!r}"
    assert "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def find_tool(name: str) -> str | None:
    """An optional checker: on PATH, beside this Python (pip-installed), or fetched by scripts/deploy-tools.sh."""
    for folder in (TOOLS_BIN, Path(sys.executable).parent):
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name)


def run_tool(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
