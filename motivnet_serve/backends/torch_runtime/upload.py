"""Host images onto the model's (or detector's) device."""

from __future__ import annotations

import torch


def upload(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor onto `device`. To a GPU it goes through pinned memory, so the copy is asynchronous on the
    current stream instead of first waiting for that stream's earlier work; elsewhere a plain `.to`."""
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
