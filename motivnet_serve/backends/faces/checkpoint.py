"""Loading a detector's weight file: small, possibly in PyTorch's legacy (pre-zip) format, read whole."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from motivnet_serve.backends.emotion.checkpoint import (
    CheckpointError,
    adapt_state_dict,
    check_compatible,
    require_readable,
)


def load_small_checkpoint(model: nn.Module, path: Path) -> nn.Module:
    """Load a state dict strictly into `model`, unpickling tensors only; errors name the file and the fix."""
    require_readable(path, f"detector weights {path} not found: run `python -m motivnet_serve fetch-weights`")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path} holds objects other than tensors, refused for safety: {exc}") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt?): {exc}") from None
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{path} is not a state dict (a mapping of names to tensors)")
    state_dict = adapt_state_dict(state_dict, model)
    check_compatible(state_dict, model, str(path))
    model.load_state_dict(state_dict, strict=True)
    return model
