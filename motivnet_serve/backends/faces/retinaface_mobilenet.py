"""RetinaFace with a MobileNet-0.25 backbone, laid out to load `mobilenet0.25_Final.pth` strictly.

Module names and `nn.Sequential` indices are those of the published state dict (`body.stage1.1.3.weight`,
`ssh2.conv7x7_3.0.weight`, `ClassHead.0.conv1x1.bias`, ...), so the file loads without renaming. The network
was trained on BGR images minus a per-channel mean, unscaled; SSD-style priors (square anchors of two sizes
per level, centred on each feature cell) decode its offsets with variances 0.1 and 0.2.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from motivnet_serve.backends.faces.boxes import Candidates
from motivnet_serve.backends.faces.checkpoint import load_small_checkpoint
from motivnet_serve.backends.torch_runtime.frozen import frozen_on_cpu

LEAKY_SLOPE = 0.1


@dataclass(frozen=True)
class MobileNetConfig:
    """Input normalisation and anchor layout the published weights were trained with."""

    bgr_mean: tuple[float, float, float] = (104.0, 117.0, 123.0)
    min_sizes: tuple[tuple[int, int], ...] = ((16, 32), (64, 128), (256, 512))
    steps: tuple[int, ...] = (8, 16, 32)
    variances: tuple[float, float] = (0.1, 0.2)


def conv_bn(
    in_chs: int, out_chs: int, kernel: int, stride: int = 1, slope: float | None = LEAKY_SLOPE, groups: int = 1
) -> nn.Sequential:
    """Conv (no bias) + BatchNorm, then LeakyReLU unless `slope` is None (the reference's `*_no_relu`)."""
    conv = nn.Conv2d(in_chs, out_chs, kernel, stride, kernel // 2, groups=groups, bias=False)
    layers = [conv, nn.BatchNorm2d(out_chs)]
    if slope is not None:
        layers.append(nn.LeakyReLU(slope, inplace=True))
    return nn.Sequential(*layers)


def conv_dw(in_chs: int, out_chs: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, each with BN and LeakyReLU, flat so indices 0..5 match the file."""
    return nn.Sequential(*conv_bn(in_chs, in_chs, 3, stride, groups=in_chs), *conv_bn(in_chs, out_chs, 1))


class MobileNetV1(nn.Module):
    """MobileNetV1 at width 0.25, cut after three stages of strides 8, 16 and 32."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            conv_bn(3, 8, 3, 2),
            conv_dw(8, 16, 1),
            conv_dw(16, 32, 2),
            conv_dw(32, 32, 1),
            conv_dw(32, 64, 2),
            conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(conv_dw(64, 128, 2), *(conv_dw(128, 128, 1) for _ in range(5)))
        self.stage3 = nn.Sequential(conv_dw(128, 256, 2), conv_dw(256, 256, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return [c1, c2, self.stage3(c2)]


class FPN(nn.Module):
    """Top-down pyramid: lateral 1x1 convs, nearest upsampling, a 3x3 merge after each sum."""

    def __init__(self, in_chs: tuple[int, int, int] = (64, 128, 256), out_chs: int = 64) -> None:
        super().__init__()
        self.output1 = conv_bn(in_chs[0], out_chs, 1)
        self.output2 = conv_bn(in_chs[1], out_chs, 1)
        self.output3 = conv_bn(in_chs[2], out_chs, 1)
        self.merge1 = conv_bn(out_chs, out_chs, 3)
        self.merge2 = conv_bn(out_chs, out_chs, 3)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        p1, p2, p3 = self.output1(features[0]), self.output2(features[1]), self.output3(features[2])
        p2 = self.merge2(p2 + F.interpolate(p3, size=p2.shape[-2:], mode="nearest"))
        p1 = self.merge1(p1 + F.interpolate(p2, size=p1.shape[-2:], mode="nearest"))
        return [p1, p2, p3]


class SSH(nn.Module):
    """Context module: 3x3, 5x5 and 7x7 receptive fields (stacked 3x3s, sharing the first), concatenated."""

    def __init__(self, in_chs: int = 64, out_chs: int = 64) -> None:
        super().__init__()
        self.conv3X3 = conv_bn(in_chs, out_chs // 2, 3, slope=None)
        self.conv5X5_1 = conv_bn(in_chs, out_chs // 4, 3)
        self.conv5X5_2 = conv_bn(out_chs // 4, out_chs // 4, 3, slope=None)
        self.conv7X7_2 = conv_bn(out_chs // 4, out_chs // 4, 3)
        self.conv7x7_3 = conv_bn(out_chs // 4, out_chs // 4, 3, slope=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shared = self.conv5X5_1(x)
        branches = [self.conv3X3(x), self.conv5X5_2(shared), self.conv7x7_3(self.conv7X7_2(shared))]
        return F.relu(torch.cat(branches, dim=1))


class AnchorHead(nn.Module):
    """A 1x1 conv predicting `per_anchor` values for each anchor, flattened to [B, H*W*anchors, per_anchor]."""

    def __init__(self, in_chs: int, num_anchors: int, per_anchor: int) -> None:
        super().__init__()
        self.per_anchor = per_anchor
        self.conv1x1 = nn.Conv2d(in_chs, num_anchors * per_anchor, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1x1(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.per_anchor)


class RetinaFaceMobileNet(nn.Module):
    """Network only: BGR-minus-mean images [B, 3, H, W] -> box offsets, class logits, landmark offsets."""

    def __init__(self, width: int = 64, num_anchors: int = 2) -> None:
        super().__init__()
        self.body = MobileNetV1()
        self.fpn = FPN(out_chs=width)
        self.ssh1, self.ssh2, self.ssh3 = SSH(width, width), SSH(width, width), SSH(width, width)
        self.ClassHead = nn.ModuleList(AnchorHead(width, num_anchors, 2) for _ in range(3))
        self.BboxHead = nn.ModuleList(AnchorHead(width, num_anchors, 4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(AnchorHead(width, num_anchors, 10) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p1, p2, p3 = self.fpn(self.body(x))
        features = [self.ssh1(p1), self.ssh2(p2), self.ssh3(p3)]
        boxes = torch.cat([head(f) for head, f in zip(self.BboxHead, features)], dim=1)
        logits = torch.cat([head(f) for head, f in zip(self.ClassHead, features)], dim=1)
        landmarks = torch.cat([head(f) for head, f in zip(self.LandmarkHead, features)], dim=1)
        return boxes, logits, landmarks


@functools.lru_cache(maxsize=8)
def prior_boxes(height: int, width: int, config: MobileNetConfig, device: torch.device) -> torch.Tensor:
    """[N, 4] anchors (cx, cy, w, h) in input pixels, in the heads' order: level, row, column, size.

    Kept for the last few sizes (read-only), since a video or a camera sends one size for its whole length.
    """
    levels = []
    for step, sizes in zip(config.steps, config.min_sizes):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        ys, xs = torch.meshgrid(torch.arange(rows, device=device), torch.arange(cols, device=device), indexing="ij")
        centres = torch.stack([xs, ys], dim=-1).float().add_(0.5).mul_(step)
        centres = centres[:, :, None, :].expand(rows, cols, len(sizes), 2)
        extents = torch.tensor(sizes, device=device, dtype=torch.float32)[:, None].expand(len(sizes), 2)
        levels.append(torch.cat([centres, extents.expand(rows, cols, -1, -1)], dim=-1).reshape(-1, 4))
    return torch.cat(levels)


class RgbInput(nn.Module):
    """RGB pixels [B, 3, H, W] (0..255 floats) -> the network's outputs.

    The network was trained on BGR images minus a mean. Flipping the first convolution's input channels
    once, at load, lets it take RGB minus the same mean in RGB order: the same sums, without a flipped copy
    of every image (on the CPU that copy cost a tenth of a frame's detection). The network given is changed
    in place, so it belongs to this wrapper from then on.
    """

    rgb_mean: torch.Tensor

    def __init__(self, network: RetinaFaceMobileNet, bgr_mean: tuple[float, float, float]) -> None:
        super().__init__()
        first = next(module for module in network.modules() if isinstance(module, nn.Conv2d))
        with torch.no_grad():
            first.weight.copy_(first.weight.flip(1))
        self.network = network
        self.register_buffer("rgb_mean", torch.tensor(bgr_mean[::-1]).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.network(rgb - self.rgb_mean)


class MobileNetBackend(nn.Module):
    """RGB pixels [B, 3, H, W] (0..255 floats) -> decoded `Candidates` in input pixels."""

    def __init__(self, network: nn.Module, config: MobileNetConfig = MobileNetConfig()) -> None:
        super().__init__()
        self.network = network
        self.config = config

    def forward(self, rgb: torch.Tensor) -> Candidates:
        offsets, logits, landmark_offsets = self.network(rgb)
        priors = prior_boxes(rgb.shape[2], rgb.shape[3], self.config, rgb.device)
        centre_var, size_var = self.config.variances
        centres, extents = priors[:, :2], priors[:, 2:]
        box_centres = centres + offsets[..., :2] * centre_var * extents
        box_sizes = extents * torch.exp(offsets[..., 2:] * size_var)
        boxes = torch.cat([box_centres - box_sizes / 2, box_centres + box_sizes / 2], dim=-1)
        point_offsets = landmark_offsets.view(*landmark_offsets.shape[:2], 5, 2)
        points = centres[:, None] + point_offsets * centre_var * extents[:, None]
        return Candidates(boxes, logits.softmax(dim=-1)[..., 1], points)


def load_rgb_network(weights: Path, device: torch.device, config: MobileNetConfig = MobileNetConfig()) -> RgbInput:
    """The network filled from `weights` strictly (the file predates zip serialisation, so it is read whole),
    eager, taking RGB: what the service freezes and what the ONNX export traces."""
    network = RetinaFaceMobileNet()
    load_small_checkpoint(network, weights)
    return RgbInput(network, config.bgr_mean).to(device).eval()


def load_mobilenet_backend(weights: Path, device: torch.device) -> MobileNetBackend:
    """On the CPU the network is frozen (`torch_runtime/frozen.py`), so detection runs without the GIL."""
    config = MobileNetConfig()
    rgb_network = load_rgb_network(weights, device, config)
    return MobileNetBackend(frozen_on_cpu(rgb_network, torch.zeros(1, 3, 64, 64), device), config).to(device).eval()
