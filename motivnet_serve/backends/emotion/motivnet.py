"""MotivNet: Sapiens encoder features classified by an ML-Decoder head."""

from __future__ import annotations

import torch
from torch import nn

from motivnet_serve.backends.emotion.ml_decoder import MLDecoder, QueryDecoder
from motivnet_serve.backends.emotion.sapiens import SapiensEncoder
from motivnet_serve.backends.emotion.spec import Architecture


class MotivNet(nn.Module):
    """Normalised 1024x768 RGB in, one logit per emotion out.

    The encoder's output is upstream reshaped to a [B, C, 64, 48] map and flattened back by the head; both
    steps cancel, so the tokens go straight to the head.
    """

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.pose_encoder = SapiensEncoder(
            embed_dim=arch.embed_dim,
            depth=arch.depth,
            num_heads=arch.num_heads,
            mlp_hidden=arch.mlp_hidden,
            patch_size=arch.patch_size,
            patch_padding=arch.patch_padding,
            num_tokens=arch.num_tokens,
        )
        self.decoder = MLDecoder(
            QueryDecoder(
                in_features=arch.embed_dim,
                embed_dim=arch.decoder_embedding,
                num_layers=arch.decoder_layers,
                num_heads=arch.decoder_heads,
                ffn_hidden=arch.decoder_ffn,
                num_classes=arch.num_classes,
            )
        )

    def forward_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.pose_encoder(pixels)

    def forward_head(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.decoder(tokens)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(pixels))


def build_motivnet(arch: Architecture, device: str | torch.device = "meta") -> MotivNet:
    """Build in eval mode on `device`; on "meta" no memory is allocated, so the 1B model takes milliseconds."""
    with torch.device(device):
        return MotivNet(arch).eval()
