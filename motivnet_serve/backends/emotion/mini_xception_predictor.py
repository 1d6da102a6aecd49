"""The mini-Xception family behind the `Predictor` contract, preprocessing faces as the `fer` package does.

fer turns the BGR photo to gray with OpenCV (ITU-R 601 luma), cuts the face, resizes it to 64x64 with
OpenCV's bilinear INTER_LINEAR into uint8, and scales to [-1, 1] ((x / 255 - 0.5) * 2). We do the same on
tensors: OpenCV's fixed-point luma weights (sum 2**14, rounded), bilinear at half-pixel centres without
antialiasing, rounding back to whole grey levels, then (x - mean) / std with 127.5 for both.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from motivnet_serve.backends.emotion.checkpoint import load_weights
from motivnet_serve.backends.emotion.mini_xception import MiniXceptionArchitecture, build_mini_xception
from motivnet_serve.backends.emotion.predictor import describe_loaded, finish_warmup, runnable
from motivnet_serve.backends.emotion.registry import ModelFamily, register_family
from motivnet_serve.backends.emotion.spec import ModelSpec, Preprocess
from motivnet_serve.backends.torch_runtime.acceleration import EAGER, Acceleration
from motivnet_serve.backends.torch_runtime.frozen import frozen_on_cpu
from motivnet_serve.backends.torch_runtime.upload import upload

LUMA_WEIGHTS_Q14 = (4899, 9617, 1868)  # round(2**14 * (0.299, 0.587, 0.114)), OpenCV's RGB->gray for uint8


def luma(image: torch.Tensor) -> torch.Tensor:
    """HxWx3 uint8 RGB -> HxW uint8 gray, bit-exact with OpenCV's cvtColor for 8-bit images."""
    weights = torch.tensor(LUMA_WEIGHTS_Q14, dtype=torch.int32, device=image.device)
    return ((image.int() * weights).sum(dim=-1) + (1 << 13)).bitwise_right_shift(14).to(torch.uint8)


class GrayPreprocessor:
    """Face crops of any sizes -> one [B, 1, H, W] batch, normalised as the model config says."""

    def __init__(
        self, config: Preprocess, arch: MiniXceptionArchitecture, device: torch.device, dtype: torch.dtype
    ) -> None:
        self.input_hw = arch.input_hw
        self.mean = config.mean[0]
        self.std = config.std[0]
        self.device = device
        self.dtype = dtype

    def pixels(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """What the model sees before normalisation: float [B, 1, H, W] holding whole grey levels."""
        resized = []
        for image in images:
            gray = luma(upload(image, self.device)).float()[None, None]
            resized.append(F.interpolate(gray, size=self.input_hw, mode="bilinear", align_corners=False))
        return torch.cat(resized).round_().clamp_(0, 255)

    def __call__(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        return ((self.pixels(images) - self.mean) / self.std).to(self.dtype)


class MiniXceptionPredictor:
    """Loads a mini-Xception folder; reorders the network's classes into the service's label order.

    On the CPU, unless compiled, the network is frozen (`torch_runtime/frozen.py`): it then runs without the GIL,
    beside the face detector's workers.
    """

    def __init__(
        self, spec: ModelSpec, device: torch.device, dtype: torch.dtype, acceleration: Acceleration = EAGER
    ) -> None:
        arch = spec.architecture
        if not isinstance(arch, MiniXceptionArchitecture):
            raise TypeError(f"{spec.name}: family 'mini-xception' needs a mini-Xception architecture")
        if acceleration.fp8:
            raise ValueError(f"{spec.name}: fp8 is for MotivNet's transformer encoder; this model has none")
        model = load_weights(build_mini_xception(arch), spec.checkpoint_path, device, dtype)
        self.info = describe_loaded(spec, model, device, dtype)
        example = torch.zeros(1, arch.in_chans, *arch.input_hw, dtype=dtype)
        self.model = (
            runnable(model, acceleration, self.info, device)
            if acceleration.compile
            else frozen_on_cpu(model, example, device, fixed_size=True)
        )
        self.preprocessor = GrayPreprocessor(spec.preprocess, arch, device, dtype)
        self.output_order = torch.tensor(spec.output_order)

    def preprocess(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.preprocessor(images)

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch).float().softmax(dim=-1).cpu()[:, self.output_order]

    def warmed_up(self) -> None:
        finish_warmup(self.model)


register_family(
    ModelFamily(
        name="mini-xception",
        architecture=MiniXceptionArchitecture,
        build_meta=build_mini_xception,
        load=MiniXceptionPredictor,
        preprocessor=GrayPreprocessor,
    )
)
