"""From settings to a loaded predictor: which model folder, which family, which device and dtype."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from service.model.motivnet_predictor import MotivNetPredictor
from service.model.spec import load_model_spec
from service.predictor import Predictor
from service.runtime import resolve_device, resolve_dtype

log = logging.getLogger(__name__)

AUTO_PREFERENCE = ("motivnet", "motivnet-tiny")


def resolve_model_dir(model_dir: str, model_store: Path) -> Path:
    """'auto' serves the first folder of `AUTO_PREFERENCE` whose checkpoint is present."""
    if model_dir != "auto":
        return Path(model_dir)
    for name in AUTO_PREFERENCE:
        folder = model_store / name
        if (folder / "model.json").is_file() and load_model_spec(folder).checkpoint_path.is_file():
            return folder
    raise FileNotFoundError(f"no model folder with its checkpoint in {model_store}; see model_store/README.md")


def load_predictor(model_dir: str, model_store: Path, device: str, dtype: str) -> Predictor:
    folder = resolve_model_dir(model_dir, model_store)
    spec = load_model_spec(folder)
    torch_device = resolve_device(device)
    predictor = MotivNetPredictor(spec, torch_device, resolve_dtype(dtype, torch_device))
    log.warning("serving model %r from %s on %s (%s)", spec.name, folder, torch_device, predictor.info.dtype)
    return predictor
