"""From settings to a loaded predictor: which model folder, which family, which device and dtype."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from motivnet_serve.backends.emotion.predictor import Predictor
from motivnet_serve.backends.emotion.registry import ImagePreprocessor, get_family
from motivnet_serve.backends.emotion.spec import ModelSpec, load_model_spec
from motivnet_serve.backends.faces.detector import build_detector
from motivnet_serve.backends.faces.face import DetectorSettings
from motivnet_serve.backends.faces.finder import FaceFinder
from motivnet_serve.backends.torch_runtime.acceleration import EAGER, Acceleration
from motivnet_serve.core.runtime import resolve_device, resolve_dtype
from motivnet_serve.settings import CompileOptions, DetectorOptions

log = logging.getLogger(__name__)

AUTO_PREFERENCE = ("motivnet", "mini-xception", "motivnet-tiny")


def resolve_model_dir(model_dir: str, model_store: Path) -> Path:
    """'auto' serves the first folder of `AUTO_PREFERENCE` whose checkpoint is present."""
    if model_dir != "auto":
        return Path(model_dir)
    for name in AUTO_PREFERENCE:
        folder = model_store / name
        if (folder / "model.json").is_file() and load_model_spec(folder).checkpoint_path.is_file():
            return folder
    raise FileNotFoundError(f"no model folder with its checkpoint in {model_store}; see model_store/README.md")


def check_model_folder(model_dir: str, model_store: Path) -> None:
    """Fail before binding the port when the model folder or its checkpoint is plainly wrong."""
    spec = load_model_spec(resolve_model_dir(model_dir, model_store))
    if not spec.checkpoint_path.is_file():
        raise FileNotFoundError(f"checkpoint {spec.checkpoint_path} not found (see model_store/README.md)")


def acceleration_of(options: CompileOptions) -> Acceleration:
    """The settings' compile and FP8 choices; an empty cache folder setting keeps no cache."""
    cache_dir = Path(options.cache_dir).expanduser() if options.cache_dir else None
    return Acceleration(options.enabled, options.mode, cache_dir, options.fp8)


def load_predictor(
    model_dir: str, model_store: Path, device: str, dtype: str, acceleration: Acceleration = EAGER
) -> Predictor:
    """Refuses what cannot run on the device (FP8 without FP8 tensor cores) before reading any weights."""
    folder = resolve_model_dir(model_dir, model_store)
    spec = load_model_spec(folder)
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    chosen = acceleration.resolved(torch_device, torch_dtype)
    predictor = get_family(spec.family).load(spec, torch_device, torch_dtype, chosen)
    log.warning(
        "serving model %r from %s on %s (%s%s%s)",
        spec.name,
        folder,
        torch_device,
        predictor.info.dtype,
        ", fp8 linears" if chosen.fp8 else "",
        f", compiled ({chosen.mode})" if chosen.compile else "",
    )
    return predictor


def build_finder(
    options: DetectorOptions, model_store: Path, device: torch.device, input_hw: tuple[int, int]
) -> FaceFinder:
    """The configured face detector on the model's device, with the configured crop rule; crops are kept
    to at most twice the model's input side."""
    detector = build_detector(options.name, device, model_store, detector_settings(options))
    return FaceFinder(detector, options.crop_margin, options.crop_align, 2 * max(input_hw))


def detector_settings(options: DetectorOptions) -> DetectorSettings:
    """The detector's own thresholds, out of the settings' detector group (the backend never sees it whole)."""
    return DetectorSettings(
        score_threshold=options.score_threshold,
        nms_iou=options.nms_iou,
        min_face_px=options.min_face_px,
        max_faces=options.max_faces,
    )


def build_meta_model(spec: ModelSpec) -> torch.nn.Module:
    """The folder's model on the meta device: its parameters and state-dict shapes, no memory."""
    return get_family(spec.family).build_meta(spec.architecture)


def build_preprocessor(spec: ModelSpec, device: torch.device) -> ImagePreprocessor:
    """The folder's own preprocessing, without loading weights (for showing what the model sees)."""
    return get_family(spec.family).preprocessor(spec.preprocess, spec.architecture, device, torch.float32)
