"""Images to model input on the model's device, as the authors' `inference.py` does it.

Upstream resizes with OpenCV's INTER_LINEAR (bilinear at half-pixel centres, no antialiasing) into uint8,
pads with white and normalises. We do the same with tensor operations and round after resizing, so the
pixels equal upstream's to within OpenCV's fixed-point rounding (at most 1 of 255).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from motivnet_serve.backends.emotion.spec import Architecture, Preprocess
from motivnet_serve.backends.torch_runtime.upload import upload


class Preprocessor:
    """Turns a list of HxWx3 uint8 RGB tensors of any sizes into one normalised [B, 3, H, W] batch.

    The batch is written once: padding rows get the normalised pad value, each resized image is normalised
    in place and copied into its slot, so no full-size temporary is made (each costs milliseconds per image).
    """

    def __init__(self, config: Preprocess, arch: Architecture, device: torch.device, dtype: torch.dtype) -> None:
        self.input_hw = arch.input_hw
        self.resize_hw = config.resize_to if config.mode == "letterbox" else arch.input_hw
        self.offset = ((self.input_hw[0] - self.resize_hw[0]) // 2, (self.input_hw[1] - self.resize_hw[1]) // 2)
        self.pad_value = config.pad_value
        self.mean = torch.tensor(config.mean, device=device).view(3, 1, 1)
        self.inv_std = 1.0 / torch.tensor(config.std, device=device).view(3, 1, 1)
        self.normalized_pad = ((config.pad_value - self.mean) * self.inv_std).to(dtype)
        self.device = device
        self.dtype = dtype

    def resized(self, image: torch.Tensor) -> torch.Tensor:
        """One image resized as upstream does, rounded like its uint8 result: float [3, h, w] of 0..255."""
        chw = upload(image, self.device).permute(2, 0, 1).unsqueeze(0).float()
        out = F.interpolate(chw, size=self.resize_hw, mode="bilinear", align_corners=False, antialias=False)
        return out[0].round_().clamp_(0, 255)

    def pixels(self, images: list[torch.Tensor]) -> torch.Tensor:
        """What the model sees before normalisation: float [B, 3, H, W] holding whole numbers 0..255."""
        batch = torch.full((len(images), 3, *self.input_hw), self.pad_value, device=self.device)
        for index, image in enumerate(images):
            self._slot(batch[index]).copy_(self.resized(image))
        return batch

    def __call__(self, images: list[torch.Tensor]) -> torch.Tensor:
        batch = torch.empty((len(images), 3, *self.input_hw), dtype=self.dtype, device=self.device)
        self._fill_padding(batch)
        for index, image in enumerate(images):
            self._slot(batch[index]).copy_(self.resized(image).sub_(self.mean).mul_(self.inv_std))
        return batch

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalises a `pixels()` batch (for checking against upstream's own pixels)."""
        return ((pixels - self.mean) * self.inv_std).to(self.dtype)

    def _slot(self, chw: torch.Tensor) -> torch.Tensor:
        top, left = self.offset
        return chw[:, top : top + self.resize_hw[0], left : left + self.resize_hw[1]]

    def _fill_padding(self, batch: torch.Tensor) -> None:
        (top, left), (height, width) = self.offset, self.resize_hw
        for region in (
            batch[:, :, :top],
            batch[:, :, top + height :],
            batch[:, :, top : top + height, :left],
            batch[:, :, top : top + height, left + width :],
        ):
            if region.numel():
                region.copy_(self.normalized_pad.expand_as(region))
