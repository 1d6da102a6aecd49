"""torch.compile's kernels kept on disk between starts, so only the first start of a model on a GPU compiles.

torch's own end-to-end cache (`torch.compiler.save_cache_artifacts` / `load_cache_artifacts`) is saved as
one file per key: the checkpoint's sha256, the device (GPU name and compute capability, or the CPU's
instruction set), torch's version, dtype, compile mode, FP8 and which dimensions are compiled dynamic. A
file's name is its key's digest, so a cache made for another model, GPU or torch has another name and is
never opened; the key is also stored beside it and compared before loading.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch

Device = torch.device
"""Named here because the key's `torch` field (the version) shadows the module inside the class."""

log = logging.getLogger(__name__)

LoadOutcome = Literal["loaded", "absent", "stale", "unreadable"]

DYNAMIC_DIMENSIONS = "batch"
"""What `CompiledModel` compiles symbolically. A cache made under another choice would load, miss every
kernel, compile anew and never be saved again (a loaded cache is not rewritten), so the choice is keyed."""


def device_identity(device: torch.device) -> str:
    """What compiled kernels depend on: the GPU model and its compute capability, or the CPU's vector ISA."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"{torch.cuda.get_device_name(device)} sm{major}{minor} cuda {torch.version.cuda}"
    return f"{device.type} {torch.backends.cpu.get_cpu_capability()}"


@dataclass(frozen=True)
class CompileKey:
    checkpoint_sha256: str
    device: str
    torch: str
    dtype: str
    mode: str
    fp8: bool
    dynamic: str

    @classmethod
    def of(cls, checkpoint_sha256: str, device: Device, dtype: str, mode: str, fp8: bool) -> CompileKey:
        return cls(checkpoint_sha256, device_identity(device), torch.__version__, dtype, mode, fp8, DYNAMIC_DIMENSIONS)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:32]


class CompileCache:
    """One key's cache file in `folder`. Failures are logged, never raised: a cache only saves time."""

    def __init__(self, folder: Path, key: CompileKey) -> None:
        self.key = key
        self.path = folder / f"{key.digest()}.bin"
        self.key_path = folder / f"{key.digest()}.json"

    def load(self) -> LoadOutcome:
        """Fills torch's compile caches from this key's file before the first compile."""
        if not self.path.is_file():
            log.warning("no compile cache at %s for this model, device and torch: compiling (slow start)", self.path)
            return "absent"
        try:
            if json.loads(self.key_path.read_text()) != asdict(self.key):
                log.warning("compile cache %s was made for another key; ignored, compiling", self.path)
                return "stale"
            if torch.compiler.load_cache_artifacts(self.path.read_bytes()) is None:
                raise ValueError("torch could not deserialize it")
        except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file must not stop the service
            log.warning("compile cache %s could not be loaded (%s); compiling from scratch", self.path, exc)
            return "unreadable"
        log.warning("compile cache loaded from %s", self.path)
        return "loaded"

    def save(self) -> bool:
        """Writes what this process compiled; atomic, so replicas sharing the folder never read half a file."""
        try:
            artifacts = torch.compiler.save_cache_artifacts()
            if artifacts is None:
                log.warning("torch.compile produced no cache artefacts; nothing saved to %s", self.path)
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.key_path, json.dumps(asdict(self.key), indent=2).encode())
            _write_atomically(self.path, artifacts[0])
        except Exception as exc:  # noqa: BLE001 - an unwritable volume costs the next start time, nothing else
            log.warning("compile cache could not be saved to %s (%s); the next start compiles again", self.path, exc)
            return False
        log.warning("compile cache saved to %s (%d bytes)", self.path, len(artifacts[0]))
        return True


def _write_atomically(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, path)
