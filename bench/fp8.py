"""FP8 against float32 and bfloat16 on the same weights: throughput, max |Δp| and top-1 agreement over real
face crops (found by the bundled detector in the given photos; whole photos where it finds none).

With random weights the distances say how much FP8 moves the numbers, not how much it costs in accuracy:
that needs the real checkpoint and a labelled set.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from bench.raw import time_forward
from motivnet_serve.backends.emotion.motivnet_predictor import MotivNetPredictor
from motivnet_serve.backends.emotion.spec import load_model_spec
from motivnet_serve.backends.torch_runtime.acceleration import Acceleration
from motivnet_serve.backends.torch_runtime.float8 import require_fp8_support
from motivnet_serve.core.images import decode_image
from motivnet_serve.core.loading import build_finder
from motivnet_serve.settings import Settings


def face_crops(photos: list[Path], device: torch.device) -> list[torch.Tensor]:
    """Every face the MobileNet detector finds in `photos`, as the server would crop it (on the CPU)."""
    settings = Settings.from_flat(detector="retinaface-mobilenet")
    finder = build_finder(settings.detector, settings.model_store, device, (1024, 768))
    crops = []
    for path in photos:
        image = decode_image(path.read_bytes(), settings.limits.max_image_pixels)
        found = finder.find([image])[0]
        crops += [crop.cpu() for _, crop in found] or [image]
    return crops


def probabilities(predictor: MotivNetPredictor, crops: list[torch.Tensor], chunk: int = 8) -> torch.Tensor:
    rows = [predictor.predict(predictor.preprocess(crops[i : i + chunk])) for i in range(0, len(crops), chunk)]
    return torch.cat(rows)


def distance(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    return {
        "max_abs_dp": (a - b).abs().max().item(),
        "top1_agreement": (a.argmax(dim=1) == b.argmax(dim=1)).float().mean().item(),
    }


def measure_fp8(
    model_dir: Path, device: torch.device, photos: list[Path], batch_size: int, compile_model: bool
) -> dict[str, Any]:
    """fp32, bf16 (on CPU: fp32 again) and FP8 predictors from one folder; FP8 compiled when asked."""
    half = torch.bfloat16 if device.type == "cuda" else torch.float32
    if device.type == "cuda":
        try:
            require_fp8_support(device, half)
        except ValueError as exc:
            return {"refused": str(exc)}
    spec = load_model_spec(model_dir)
    crops = face_crops(photos, device)
    result: dict[str, Any] = {"crops": len(crops), "weights": spec.checkpoint, "half_dtype": str(half)}
    reference = {"fp32": probabilities(MotivNetPredictor(spec, device, torch.float32), crops)}
    reference["half"] = (
        probabilities(MotivNetPredictor(spec, device, half), crops) if half != torch.float32 else reference["fp32"]
    )
    fp8 = MotivNetPredictor(spec, device, half, Acceleration(compile=compile_model, fp8=True))
    got = probabilities(fp8, crops)
    result["fp8_vs_fp32"] = distance(got, reference["fp32"])
    result["fp8_vs_half"] = distance(got, reference["half"])
    result["half_vs_fp32"] = distance(reference["half"], reference["fp32"])
    result["throughput"] = asdict(time_forward(fp8.model, batch_size, device, half, repeats=5))
    result["compiled"] = compile_model and not getattr(fp8.model, "failed", True)
    return result
