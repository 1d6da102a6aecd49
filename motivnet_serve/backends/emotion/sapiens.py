"""Sapiens vision transformer encoder, as MotivNet's pose-finetuned checkpoint stores it.

Submodule names (`projection`, `layers.N.ln1`, `attn.qkv`, `ffn.layers.0.0`, ...) are the upstream
names on purpose: the authors' `MotivNet.pth` then loads with `strict=True` and no key mapping.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused `qkv` projection, computed by SDPA.

    Args:
        dim: token width.
        num_heads: number of heads; `dim` must divide evenly.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(batch, tokens, dim))


class FeedForward(nn.Module):
    """Two-layer GELU MLP; the nested `layers` container mirrors the checkpoint's key layout."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Sequential(nn.Linear(dim, hidden), nn.GELU()), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6, as Sapiens was trained)."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, num_heads)
        self.ln2 = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = FeedForward(dim, mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class SapiensEncoder(nn.Module):
    """Patchify, add learned positions, run `depth` blocks, normalise; returns tokens [B, N, C].

    Args:
        embed_dim: token width C.
        depth: number of blocks.
        num_heads: attention heads per block.
        mlp_hidden: hidden width of each block's MLP.
        patch_size: kernel and stride of the patch projection.
        patch_padding: zero padding of the patch projection (2 in Sapiens, which is why a 1024x768 input
            still yields exactly a 64x48 grid).
        num_tokens: length of the learned position table; it fixes the only supported input size.
    """

    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_hidden: int,
        patch_size: int,
        patch_padding: int,
        num_tokens: int,
    ) -> None:
        super().__init__()
        self.projection = nn.Conv2d(3, embed_dim, patch_size, stride=patch_size, padding=patch_padding)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))
        self.layers = nn.ModuleList(EncoderBlock(embed_dim, num_heads, mlp_hidden) for _ in range(depth))
        self.ln1 = nn.LayerNorm(embed_dim, eps=1e-6)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.projection(pixels).flatten(2).transpose(1, 2)
        x = x + self.pos_embed
        for block in self.layers:
            x = block(x)
        return self.ln1(x)
