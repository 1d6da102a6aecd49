"""Resizing HxWx3 uint8 images without a float copy of the original, so a 40-Mpixel photo is reduced for the
detector or the queue in about its own size of memory (a float copy would be four times that)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_hwc(image: torch.Tensor, size: tuple[int, int], *, antialias: bool) -> torch.Tensor:
    """HxWx3 uint8 -> size[0] x size[1] x 3 uint8, bilinear at half-pixel centres.

    On the CPU torch resizes uint8 directly (within 1 of the float result); other devices resize through
    float, in device memory."""
    chw = image.permute(2, 0, 1).unsqueeze(0)
    size = (max(1, size[0]), max(1, size[1]))
    if image.device.type == "cpu":
        out = F.interpolate(chw, size=size, mode="bilinear", antialias=antialias, align_corners=False)
    else:
        out = F.interpolate(chw.float(), size=size, mode="bilinear", antialias=antialias, align_corners=False)
        out = out.round_().clamp_(0, 255).to(torch.uint8)
    return out[0].permute(1, 2, 0).contiguous()


def shrink_to(image: torch.Tensor, max_side: int) -> torch.Tensor:
    """An image larger than the model can use is reduced right away (antialiased), so a face filling a
    40-Mpixel photo does not hold 120 MB while it waits in the queue."""
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    return resize_hwc(image, (round(height * scale), round(width * scale)), antialias=True)
