"""Images to model input on the model's device, as the authors' `inference.py` does it.

Upstream resizes with OpenCV's INTER_LINEAR (bilinear at half-pixel centres, no antialiasing) into uint8,
pads with white and normalises. We do the same with tensor operations and round after resizing, so the
pixels equal upstream's to within OpenCV's fixed-point rounding (at most 1 of 255).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from service.model.spec import Architecture, Preprocess


class Preprocessor:
    """Turns a list of HxWx3 uint8 RGB tensors of any sizes into one normalised [B, 3, H, W] batch."""

    def __init__(self, config: Preprocess, arch: Architecture, device: torch.device, dtype: torch.dtype) -> None:
        self.input_hw = arch.input_hw
        self.resize_hw = config.resize_to if config.mode == "letterbox" else arch.input_hw
        self.offset = ((self.input_hw[0] - self.resize_hw[0]) // 2, (self.input_hw[1] - self.resize_hw[1]) // 2)
        self.pad_value = config.pad_value
        self.mean = torch.tensor(config.mean, device=device).view(1, 3, 1, 1)
        self.inv_std = 1.0 / torch.tensor(config.std, device=device).view(1, 3, 1, 1)
        self.device = device
        self.dtype = dtype

    def pixels(self, images: list[torch.Tensor]) -> torch.Tensor:
        """What the model sees before normalisation: float [B, 3, H, W] holding whole numbers 0..255."""
        batch = torch.full((len(images), 3, *self.input_hw), self.pad_value, device=self.device)
        top, left = self.offset
        height, width = self.resize_hw
        for index, image in enumerate(images):
            chw = image.to(self.device, non_blocking=True).permute(2, 0, 1).unsqueeze(0).float()
            resized = F.interpolate(chw, size=self.resize_hw, mode="bilinear", align_corners=False, antialias=False)
            batch[index, :, top : top + height, left : left + width] = resized[0].round_().clamp_(0, 255)
        return batch

    def __call__(self, images: list[torch.Tensor]) -> torch.Tensor:
        return self.normalize(self.pixels(images))

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        return ((pixels - self.mean) * self.inv_std).to(self.dtype)
