"""The ResNet-50 RetinaFace of the `retina-face` package: its own network module, our batched decoding.

The package's network takes RGB pixels 0..255 in NHWC (its first layer is a BatchNorm that normalises them)
and returns, for strides 32, 16 and 8, face probabilities, box deltas and landmark deltas per anchor.
Anchors are insightface's: two square bases per stride, shifted over the feature grid; deltas decode
against anchor sides counted inclusively, and boxes are clipped to the image, as the package does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from motivnet_serve.backends.faces.boxes import Candidates
from motivnet_serve.backends.faces.checkpoint import load_small_checkpoint

INSTALL_HINT = "install the optional extra: pip install -e '.[retinaface]'"


@dataclass(frozen=True)
class ResNetConfig:
    """Per stride, the base anchors (x1, y1, x2, y2) the published weights were trained against."""

    strides: tuple[int, ...] = (32, 16, 8)
    base_anchors: tuple[tuple[tuple[float, float, float, float], ...], ...] = (
        ((-248.0, -248.0, 263.0, 263.0), (-120.0, -120.0, 135.0, 135.0)),
        ((-56.0, -56.0, 71.0, 71.0), (-24.0, -24.0, 39.0, 39.0)),
        ((-8.0, -8.0, 23.0, 23.0), (0.0, 0.0, 15.0, 15.0)),
    )


def build_resnet_network() -> nn.Module:
    """The package's `RetinaFace` module with random weights; importing it downloads nothing."""
    try:
        from retinaface.model.retinaface_pth_model import RetinaFace
    except ImportError as exc:
        raise RuntimeError(f"the 'retinaface' detector needs the retina-face package ({exc}); {INSTALL_HINT}") from None
    return RetinaFace()


def shifted_anchors(rows: int, cols: int, stride: int, bases: torch.Tensor) -> torch.Tensor:
    """[rows * cols * A, 4] anchors in the network's order: row, column, base anchor."""
    device = bases.device
    ys, xs = torch.meshgrid(torch.arange(rows, device=device), torch.arange(cols, device=device), indexing="ij")
    shifts = torch.stack([xs, ys, xs, ys], dim=-1).to(bases.dtype) * stride
    return (shifts[:, :, None, :] + bases).reshape(-1, 4)


def decode_level(
    probs: torch.Tensor, box_deltas: torch.Tensor, landmark_deltas: torch.Tensor, anchors: torch.Tensor
) -> Candidates:
    """One stride's NHWC outputs -> candidates: boxes [B, K, 4], face probabilities [B, K], landmarks [B, K, 5, 2]."""
    batch, num_anchors = probs.shape[0], probs.shape[-1] // 2
    scores = probs[..., num_anchors:].reshape(batch, -1)
    deltas = box_deltas.reshape(batch, -1, 4)
    sizes = anchors[:, 2:] - anchors[:, :2] + 1.0
    centres = anchors[:, :2] + 0.5 * (sizes - 1.0)
    box_centres = deltas[..., :2] * sizes + centres
    half_extents = 0.5 * (torch.exp(deltas[..., 2:]) * sizes - 1.0)
    boxes = torch.cat([box_centres - half_extents, box_centres + half_extents], dim=-1)
    points = landmark_deltas.reshape(batch, -1, 5, 2) * sizes[:, None] + centres[:, None]
    return Candidates(boxes, scores, points)


class ResNetBackend(nn.Module):
    """RGB pixels [B, 3, H, W] (0..255 floats) -> decoded `Candidates` in input pixels, boxes clipped."""

    base_anchors: torch.Tensor

    def __init__(self, network: nn.Module, config: ResNetConfig = ResNetConfig()) -> None:
        super().__init__()
        self.network = network
        self.strides = config.strides
        self.register_buffer("base_anchors", torch.tensor(config.base_anchors), persistent=False)

    def forward(self, rgb: torch.Tensor) -> Candidates:
        outputs = self.network(rgb.permute(0, 2, 3, 1))
        levels = []
        for index, stride in enumerate(self.strides):
            probs, box_deltas, landmark_deltas = outputs[3 * index : 3 * index + 3]
            anchors = shifted_anchors(probs.shape[1], probs.shape[2], stride, self.base_anchors[index])
            levels.append(decode_level(probs, box_deltas, landmark_deltas, anchors))
        boxes, scores, points = (torch.cat(parts, dim=1) for parts in zip(*levels))
        height, width = rgb.shape[2], rgb.shape[3]
        limits = boxes.new_tensor([width - 1, height - 1, width - 1, height - 1])
        return Candidates(torch.minimum(boxes.clamp(min=0), limits), scores, points)


def load_resnet_backend(weights: Path, device: torch.device) -> ResNetBackend:
    """The package's network filled strictly from `weights` (its `retinaface.pth`)."""
    network = build_resnet_network()
    load_small_checkpoint(network, weights)
    return ResNetBackend(network).to(device).eval()
