"""`export --format onnx` once its options are read (`export.py`): the served networks for ONNX Runtime and Triton.

Writes the model folder's emotion network (and with `--with-detector` the face detector's) as ONNX, optionally
a Triton model repository of them (`--triton-repo`), and with `--check IMAGE...` runs both the torch model
and ONNX Runtime on the faces the service finds in those photos, printing max |dp| and top-1 agreement; the
command then fails when they differ by more than `PARITY_TOLERANCE` or disagree on any face.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from motivnet_serve.backends.emotion.spec import ModelSpec, load_model_spec
from motivnet_serve.backends.export.onnx import OnnxModel, export_detector, export_emotion
from motivnet_serve.backends.export.parity import Parity, detector_parity, emotion_parity
from motivnet_serve.backends.export.triton import write_triton_model
from motivnet_serve.backends.faces.detector import WEIGHT_FILES, detectors_dir, resolve_detector_name
from motivnet_serve.backends.faces.retinaface_mobilenet import load_rgb_network
from motivnet_serve.core.images import decode_image
from motivnet_serve.core.loading import build_finder, load_predictor, resolve_model_dir
from motivnet_serve.settings import Settings

PARITY_TOLERANCE = 1e-4
"""Largest probability difference accepted in float32: rounding differences stay near 1e-6, a wrong export
(a missing normalisation, a swapped class, a dropped layer) moves probabilities by far more."""


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    spec = load_model_spec(resolve_model_dir(settings.model_dir, settings.model_store))
    out = Path(args.out or f"{spec.name}.onnx")
    exported = [export_emotion(spec, out, args.opset, weights=not args.no_weights)]
    if args.with_detector:
        exported.append(_export_detector(settings, out.parent, args.opset))
    for model in exported:
        print(f"wrote {model.path} ({model.name}, opset {args.opset}, inputs {_shapes(model)})")
    if args.triton_repo:
        for model in exported:
            print(f"wrote {write_triton_model(Path(args.triton_repo), model, settings.max_batch_size)}")
    if not args.check:
        return 0
    if args.no_weights:
        raise ValueError("--check needs the weights: leave out --no-weights")
    return _check(args.check, spec, exported, settings)


def _export_detector(settings: Settings, folder: Path, opset: int) -> OnnxModel:
    name = resolve_detector_name(settings.detector.name, settings.model_store)
    if name == "none":
        raise ValueError("--detector with MOTIVNET_DETECTOR=none: choose a detector to export")
    return export_detector(
        name, detectors_dir(settings.model_store) / WEIGHT_FILES[name], folder / f"{name}.onnx", opset
    )


def _shapes(model: OnnxModel) -> str:
    return ", ".join(f"{t.name} [batch, {', '.join(map(str, t.dims))}]" for t in model.inputs)


def _check(paths: list[str], spec: ModelSpec, exported: list[OnnxModel], settings: Settings) -> int:
    """Parity on the faces the service would classify (its detector, crops and preprocessing)."""
    images = [decode_image(Path(path).read_bytes(), settings.limits.max_image_pixels) for path in paths]
    finder = build_finder(settings.detector, settings.model_store, torch.device("cpu"), spec.architecture.input_hw)
    crops = [crop for found in finder.find(images) for _, crop in found]
    if not crops:
        raise ValueError("no face found in the --check photos")
    predictor = load_predictor(str(spec.folder), settings.model_store, "cpu", "float32")
    results = {exported[0].name: emotion_parity(predictor, exported[0].path, crops)}
    for model in exported[1:]:
        weights = detectors_dir(settings.model_store) / WEIGHT_FILES[model.name]
        results[model.name] = detector_parity(load_rgb_network(weights, torch.device("cpu")), model.path, images)
    for name, parity in results.items():
        print(f"parity {name}: {parity}")
    return 0 if all(_agrees(parity) for parity in results.values()) else 1


def _agrees(parity: Parity) -> bool:
    return parity.max_abs_diff < PARITY_TOLERANCE and parity.top1_agreement == 1.0
