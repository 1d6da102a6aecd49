"""Reading weight files safely and fitting them to a model built on the meta device.

Nothing here unpickles arbitrary objects: `.pth`/`.ckpt` go through `torch.load(weights_only=True)`.
Files are memory-mapped and each tensor is moved to the target device and dtype on its own, so a 4.6 GB
checkpoint never exists twice in RAM.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)

WRAPPER_PREFIXES = ("model.", "module.", "net.")
SHOWN_KEYS = 5


class CheckpointError(ValueError):
    """A weight file that cannot be used; the message names the file and what is wrong with it."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a `.pth`, Lightning `.ckpt` or `.safetensors` file, memory-mapped on the CPU."""
    path = Path(path)
    require_readable(path, f"checkpoint {path} not found (see model_store/README.md for where to get it)")
    try:
        if path.suffix == ".safetensors":
            return load_safetensors(str(path), device="cpu")
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{path} holds objects other than tensors, refused for safety: {first_line}") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, SafetensorError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt?): {exc}") from None
    return _unwrap(loaded, path)


def require_readable(path: Path, missing: str) -> None:
    """Fail with `missing` when there is no such file, and with "permission denied" when this user may not
    read it: the loaders would otherwise report an unreadable file as corrupt or even as missing."""
    if not path.is_file():
        raise CheckpointError(missing)
    if not os.access(path, os.R_OK):
        raise CheckpointError(f"{path}: permission denied for uid {os.getuid()}; make it readable: chmod a+r {path}")


def _unwrap(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise CheckpointError(f"{path} is not a state dict (a mapping of names to tensors)")
    return dict(loaded)


def adapt_state_dict(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Strip a training wrapper's prefix (Lightning's `model.`, DDP's `module.`) when the model lacks it."""
    expected = model.state_dict().keys()
    for prefix in WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state_dict) and not any(k.startswith(prefix) for k in expected):
            return {k[len(prefix) :]: v for k, v in state_dict.items()}
    return state_dict


def check_compatible(state_dict: Mapping[str, torch.Tensor], model: nn.Module, source: str) -> None:
    """Raise one error naming the first missing, unexpected and mis-shaped keys, instead of torch's wall."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    misshaped = [
        f"{k} {list(state_dict[k].shape)} (model wants {list(shape)})"
        for k, shape in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != shape
    ]
    problems = [
        f"{len(keys)} {what}: {', '.join(keys[:SHOWN_KEYS])}{', ...' if len(keys) > SHOWN_KEYS else ''}"
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
        if keys
    ]
    if problems:
        raise CheckpointError(f"{source} does not fit this model's architecture: " + "; ".join(problems))


def load_weights(model: ModuleT, path: str | Path, device: torch.device, dtype: torch.dtype) -> ModuleT:
    """Fill a meta-device `model` from `path`, tensor by tensor, on `device` in `dtype`."""
    state_dict = adapt_state_dict(read_state_dict(path), model)
    check_compatible(state_dict, model, str(path))
    converted = {}
    for key in list(state_dict):
        converted[key] = state_dict.pop(key).to(device=device, dtype=dtype)
    model.load_state_dict(converted, strict=True, assign=True)
    return model
