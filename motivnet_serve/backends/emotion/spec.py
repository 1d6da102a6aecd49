"""What a model folder's `model.json` says: architecture, labels, preprocessing and checkpoint.

Every architecture key defaults to MotivNet-1B, so `{"architecture": {}}` describes the published model;
`"preset"` picks another Sapiens size and explicit keys override it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails, InitErrorDetails

from motivnet_serve.backends.emotion.registry import ArchitectureConfig, family_names, get_family

MOTIVNET_LABELS = ("Neutral", "Happiness", "Sadness", "Surprise", "Fear", "Disgust", "Anger")

SAPIENS_PRESETS: dict[str, dict[str, int]] = {
    "sapiens-0.3b": {"embed_dim": 1024, "depth": 24, "num_heads": 16, "mlp_hidden": 4096},
    "sapiens-0.6b": {"embed_dim": 1280, "depth": 32, "num_heads": 16, "mlp_hidden": 5120},
    "sapiens-1b": {"embed_dim": 1536, "depth": 40, "num_heads": 24, "mlp_hidden": 6144},
    "sapiens-2b": {"embed_dim": 1920, "depth": 48, "num_heads": 32, "mlp_hidden": 7680},
    "sapiens-cpu": {
        "embed_dim": 96,
        "depth": 3,
        "num_heads": 2,
        "mlp_hidden": 384,
        "decoder_embedding": 192,
        "decoder_ffn": 384,
    },
}
"""`sapiens-cpu` is MotivNet's shape (3,072 tokens of a 1024x768 input, Sapiens encoder, ML-Decoder) at a width
a CPU runs at several images a second: a compute-bound transformer, as the product's model is, for CPU benchmarks."""


def _under_architecture(error: ErrorDetails) -> InitErrorDetails:
    """A family's architecture error, re-raised at its place in `model.json`."""
    return {"type": error["type"], "loc": ("architecture", *error["loc"]), "input": error["input"]}


class ModelSpecError(ValueError):
    """A model folder that cannot be served; the message says which file and what to fix."""


class Architecture(ArchitectureConfig):
    """Dimensions of a MotivNet (Sapiens encoder + ML-Decoder head); the key names are the reference's."""

    preset: Literal["sapiens-0.3b", "sapiens-0.6b", "sapiens-1b", "sapiens-2b", "sapiens-cpu"] | None = None
    embed_dim: int = Field(1536, gt=0)
    depth: int = Field(40, gt=0)
    num_heads: int = Field(24, gt=0)
    mlp_hidden: int = Field(6144, gt=0)
    patch_size: int = Field(16, gt=0)
    patch_padding: int = Field(2, ge=0)
    input_hw: tuple[int, int] = (1024, 768)
    num_tokens: int = Field(3072, gt=0)
    decoder_embedding: int = Field(1152, gt=0)
    decoder_layers: int = Field(2, gt=0)
    decoder_heads: int = Field(8, gt=0)
    decoder_ffn: int = Field(2048, gt=0)
    num_classes: int = Field(7, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") in SAPIENS_PRESETS:
            return {**SAPIENS_PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _check_grid(self) -> Architecture:
        grid = [(side + 2 * self.patch_padding - self.patch_size) // self.patch_size + 1 for side in self.input_hw]
        if grid[0] * grid[1] != self.num_tokens:
            raise ValueError(
                f"input_hw {list(self.input_hw)} with patch {self.patch_size} and padding {self.patch_padding} "
                f"gives {grid[0]}x{grid[1]} tokens, but num_tokens is {self.num_tokens}"
            )
        return self


class Preprocess(BaseModel):
    """How an RGB image becomes the model's input; the defaults are the authors' `inference.py`.

    `letterbox` resizes to `resize_to` (a square, stretching non-square images, as upstream does) and pads
    with `pad_value` to the model's input size; `stretch` resizes straight to the input size, as upstream
    training did. `grayscale` first turns RGB into luma, and then `mean` and `std` have one value each.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["letterbox", "stretch"] = "letterbox"
    resize_to: tuple[int, int] = (768, 768)
    pad_value: float = 255.0
    mean: tuple[float, ...] = (123.5, 116.5, 103.5)
    std: tuple[float, ...] = (58.5, 57.0, 57.5)
    grayscale: bool = False

    @model_validator(mode="after")
    def _check_channels(self) -> Preprocess:
        channels = 1 if self.grayscale else 3
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"mean and std need {channels} value(s) each for grayscale={self.grayscale}")
        return self


class ModelSpec(BaseModel):
    """A model folder: its `model.json` plus where it lives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    family: str = "motivnet"
    architecture: SerializeAsAny[ArchitectureConfig] = Architecture()
    labels: tuple[str, ...] = MOTIVNET_LABELS
    output_labels: tuple[str, ...] | None = None
    preprocess: Preprocess = Preprocess()
    checkpoint: str = "MotivNet.pth"
    folder: Path = Path(".")

    @model_validator(mode="before")
    @classmethod
    def _architecture_of_family(cls, data: Any) -> Any:
        """Each family reads `architecture` with its own class, so defaults and unknown keys are its own."""
        if not isinstance(data, dict) or not isinstance(data.get("architecture", {}), dict):
            return data
        family = data.get("family", "motivnet")
        if family not in family_names():
            return data  # the family check below names the problem
        architecture = get_family(family).architecture
        try:
            return {**data, "architecture": architecture.model_validate(data.get("architecture", {}))}
        except ValidationError as exc:
            problems = [_under_architecture(error) for error in exc.errors(include_url=False)]
            raise ValidationError.from_exception_data(exc.title, problems) from None

    @field_validator("family")
    @classmethod
    def _known_family(cls, value: str) -> str:
        get_family(value)
        return value

    @model_validator(mode="after")
    def _check_labels(self) -> ModelSpec:
        if len(self.labels) != self.architecture.num_classes:
            raise ValueError(f"{len(self.labels)} labels for num_classes {self.architecture.num_classes}")
        if self.output_labels is not None and sorted(self.output_labels) != sorted(self.labels):
            raise ValueError("output_labels (the network's class order) must be the labels in another order")
        return self

    @property
    def output_order(self) -> list[int]:
        """For each of `labels`, its index among the network's outputs."""
        return [(self.output_labels or self.labels).index(label) for label in self.labels]

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / self.checkpoint


def load_model_spec(folder: str | Path) -> ModelSpec:
    """Read `folder/model.json`; raise `ModelSpecError` with the file and the problem otherwise."""
    folder = Path(folder)
    path = folder / "model.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelSpecError(f"{path} not found: a model folder needs a model.json") from None
    except json.JSONDecodeError as exc:
        raise ModelSpecError(f"{path} is not valid JSON: {exc}") from None
    try:
        return ModelSpec.model_validate({**data, "folder": folder})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ModelSpecError(f"{path}: {problems}") from None
