"""Choosing the torch device, dtype and CPU threads from settings words ('auto', 'cuda', 'bfloat16', 0, ...)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from motivnet_serve.settings import DTYPES

TORCH_DTYPES: dict[str, torch.dtype] = {name: getattr(torch, name) for name in DTYPES if name != "auto"}
"""The settings' dtype words (their one list) as torch dtypes; each word names a `torch` attribute."""


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
    return TORCH_DTYPES[name]


MAX_AUTO_DETECT_WORKERS = 4
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cgroup_cpu_quota(path: Path = CGROUP_CPU_MAX) -> int | None:
    """A cgroup v2 `cpu.max` ("200000 100000": 2 CPUs; "max 100000": no limit) in whole CPUs, rounded up;
    None where there is no limit or no such file."""
    try:
        quota, period = path.read_text().split()[:2]
        return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return None


def usable_cores() -> int:
    """The CPUs this process may use: its affinity (all CPUs on macOS, which has none), lowered to its
    container's CPU quota, which neither torch nor `os.cpu_count()` sees (a 2-CPU pod on a 64-core node would
    otherwise start 64 threads)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return min(cores, quota) if quota else cores


def resolve_detect_workers(requested: int, device: torch.device) -> int:
    """0 picks one detection thread per usable CPU core (at most 4) on the CPU, and one on a GPU.

    On the CPU a small detector gains less from a second core within one image than from a second image
    (one MobileNet pass on a 640x360 frame took 17-20 ms on one core and 11-17 ms on two), so throughput
    comes from workers rather than from torch's threads.
    """
    if requested:
        return requested
    if device.type == "cpu":
        return min(usable_cores(), MAX_AUTO_DETECT_WORKERS)
    return 1


@dataclass(frozen=True)
class ThreadPolicy:
    """How the CPU's cores are split between the emotion model's forward and the detection workers.

    Each detection worker runs torch on `detect_threads` of its own: a small detector gains more from a second
    image than from a second thread. The forward takes every core that detection workers leave free when it
    starts, counting a worker busy while it runs a detection or has one queued for it: a MotivNet-shaped
    transformer is compute-bound and ran 2.0x faster on two free cores than on one, while giving it one core
    of two whenever detection *might* run halved the served rate (issue 19); a frozen mini-Xception gained
    1.6x at batch 8 on two free threads, but ran 7x slower on two beside a busy core. Counting only the
    detections already running let a video's forward take both cores just before its next frame's detection
    started (the video pipeline always has one queued), so queued detections count too. Other processes'
    load is not seen.
    """

    cores: int
    detect_workers: int
    detect_threads: int

    @classmethod
    def for_cpu(cls, detect_workers: int) -> ThreadPolicy:
        cores = usable_cores()
        return cls(cores, detect_workers, max(1, cores // detect_workers))

    def forward_threads(self, detecting: int) -> int:
        """The forward's threads while `detecting` detection workers are busy: the cores they leave, at least one."""
        return max(1, self.cores - detecting * self.detect_threads)

    def describe(self) -> str:
        return (
            f"emotion model forward on up to {self.cores} torch thread(s) (the cores detection leaves free), "
            f"faces found on {self.detect_workers} thread(s) x {self.detect_threads} torch thread(s), "
            "as many for recorded videos"
        )


def use_threads(count: int) -> None:
    """Gives the calling thread `count` torch threads, and no other thread.

    With torch's OpenMP backend the count lives per thread (OpenMP's and MKL's thread-local settings), but
    torch copies its last process-wide value into a thread the first time that thread asks for its count,
    overriding anything set before; asking first makes the setting stick to this thread alone.
    """
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
