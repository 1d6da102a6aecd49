"""The model-family registry, as timm's `register_model`: a family is one module that registers one record.

A record says how to read the family's `architecture` config, build its network on the meta device, load a
predictor and make its preprocessing. Nothing else names the families, so adding one touches no table.
Registration happens when `motivnet_serve.backends.emotion` is imported (its `__init__` imports every family module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from motivnet_serve.backends.emotion.predictor import Predictor
    from motivnet_serve.backends.emotion.spec import ModelSpec, Preprocess
    from motivnet_serve.backends.torch_runtime.acceleration import Acceleration


class ArchitectureConfig(BaseModel):
    """What every family's architecture config has: the input size the service crops for, and the classes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_hw: tuple[int, int]
    num_classes: int


class ImagePreprocessor(Protocol):
    """A family's preprocessing on its own, without weights: what `python -m motivnet_serve preprocess` shows."""

    def pixels(self, images: list[torch.Tensor]) -> torch.Tensor:
        """The model's input before normalisation: float [B, C, H, W] holding 0..255."""
        ...


@dataclass(frozen=True)
class ModelFamily:
    name: str
    architecture: type[ArchitectureConfig]
    build_meta: Callable[[Any], torch.nn.Module]
    load: Callable[[ModelSpec, torch.device, torch.dtype, Acceleration], Predictor]
    preprocessor: Callable[[Preprocess, Any, torch.device, torch.dtype], ImagePreprocessor]


_FAMILIES: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> ModelFamily:
    if family.name in _FAMILIES:
        raise ValueError(f"model family {family.name!r} is registered twice")
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> ModelFamily:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(sorted(_FAMILIES))}") from None


def family_names() -> list[str]:
    return sorted(_FAMILIES)
