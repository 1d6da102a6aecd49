"""Choosing the torch device, dtype and CPU threads from settings words ('auto', 'cuda', 'bfloat16', 0, ...)."""

from __future__ import annotations

import os

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an explicit device that is absent is an error, not a fallback."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but this torch sees no CUDA GPU; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} asked for, but MPS is not available here; use --device cpu")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """'auto' is bfloat16 on CUDA (tensor cores, fp32 range) and float32 elsewhere (fast CPU kernels)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[name]


MAX_AUTO_DETECT_WORKERS = 4


def resolve_detect_workers(requested: int, device: torch.device) -> int:
    """0 picks one detection thread per CPU core (at most 4) on the CPU, and one on a GPU.

    On the CPU a small detector gains little from a second core within one image (one MobileNet pass on a
    640x360 frame: 18 ms on one core, 17 ms on two), but two images on two cores take half the time, so
    throughput comes from workers rather than from torch's threads.
    """
    if requested:
        return requested
    if device.type == "cpu":
        return min(len(os.sched_getaffinity(0)), MAX_AUTO_DETECT_WORKERS)
    return 1


def share_cpu_cores(workers: int) -> None:
    """Gives each of `workers` threads running torch on the CPU an equal share of the cores as its own
    torch threads, so they do not oversubscribe the cores. Threads that start torch later take it up."""
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // workers))
