"""The bare model's forward pass: throughput and latency per batch size, synchronised, median of repeats."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from motivnet_serve.backends.emotion.motivnet import build_motivnet
from motivnet_serve.backends.emotion.motivnet_predictor import MotivNetPredictor
from motivnet_serve.backends.emotion.spec import Architecture, load_model_spec
from motivnet_serve.core.runtime import resolve_device, resolve_dtype

FLOP_PER_IMAGE_1B = 9.33e12


@dataclass
class RawResult:
    batch_size: int
    median_ms: float
    images_per_s: float
    peak_memory_gb: float | None


def build_model(model_dir: str | None, preset: str | None, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """A model folder's real weights, or a preset with random weights made directly on the device."""
    if model_dir:
        return MotivNetPredictor(load_model_spec(Path(model_dir)), device, dtype).model
    return build_motivnet(Architecture(preset=preset), device).to(dtype)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    """The median wall time of `call()` over `repeats` runs (a GPU call synchronises inside `call`)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.inference_mode()
def time_forward(
    model: torch.nn.Module, batch_size: int, device: torch.device, dtype: torch.dtype, repeats: int, warmup: int = 2
) -> RawResult:
    pixels = torch.randn(batch_size, 3, 1024, 768, device=device, dtype=dtype)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        model(pixels)
    synchronize(device)
    median = median_seconds(lambda: (model(pixels), synchronize(device)), repeats)
    peak = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None
    return RawResult(batch_size, median * 1000, batch_size / median, peak)


def run_raw(
    model_dir: str | None, preset: str | None, device_name: str, dtype_name: str, batch_sizes: list[int], repeats: int
) -> list[RawResult]:
    device = resolve_device(device_name)
    dtype = resolve_dtype(dtype_name, device)
    model = build_model(model_dir, preset, device, dtype)
    results = []
    for batch_size in tqdm(batch_sizes, desc=f"raw {dtype_name}", unit="batch size"):
        results.append(time_forward(model, batch_size, device, dtype, repeats))
    return results


def format_raw(results: list[RawResult], flop_per_image: float | None, peak_flops: float | None) -> str:
    lines = [f"{'batch':>5} {'median ms':>10} {'images/s':>9} {'ms/image':>9} {'peak GB':>8} {'MFU':>6}"]
    for r in results:
        mfu = f"{r.images_per_s * flop_per_image / peak_flops:6.1%}" if flop_per_image and peak_flops else "     -"
        peak = f"{r.peak_memory_gb:8.2f}" if r.peak_memory_gb is not None else "       -"
        per_image = r.median_ms / r.batch_size
        lines.append(f"{r.batch_size:5d} {r.median_ms:10.2f} {r.images_per_s:9.2f} {per_image:9.2f} {peak} {mfu}")
    return "\n".join(lines)
