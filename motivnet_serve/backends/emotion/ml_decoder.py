"""ML-Decoder classification head, as MotivNet's checkpoint stores it (`decoder.decoder.*`).

The upstream head attaches its embedding, queries and group-FC weights to a `torch.nn.TransformerDecoder`
object named `decoder`; `QueryDecoder` holds the same parameters under the same names. Its attention
parameters are called `self_attn` although they attend from the class queries to the image tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CrossAttention(nn.Module):
    """`nn.MultiheadAttention`'s parameters (packed in-projection), computed batch-first with SDPA."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"decoder_embedding {dim} is not divisible by decoder_heads {num_heads}")
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        sizes = [queries.shape[-1], 2 * queries.shape[-1]]
        w_q, w_kv = torch.split(self.in_proj_weight, sizes)
        b_q, b_kv = torch.split(self.in_proj_bias, sizes)
        q = self._heads(F.linear(queries, w_q, b_q))
        k, v = (self._heads(t) for t in F.linear(memory, w_kv, b_kv).chunk(2, dim=-1))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).flatten(2))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        return x.view(batch, tokens, self.num_heads, dim // self.num_heads).transpose(1, 2)


class QueryDecoderLayer(nn.Module):
    """One ML-Decoder layer in eval mode: the query self-attention is dropped, so the first step is
    `norm1(t + t)` (upstream adds a zero-rate dropout of `t` to `t`)."""

    def __init__(self, dim: int, num_heads: int, ffn_hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = CrossAttention(dim, num_heads)
        self.linear1 = nn.Linear(dim, ffn_hidden)
        self.linear2 = nn.Linear(ffn_hidden, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        t = self.norm1(queries + queries)
        t = self.norm2(t + self.self_attn(t, memory))
        return self.norm3(t + self.linear2(F.relu(self.linear1(t))))


class QueryDecoder(nn.Module):
    """Class queries attend to projected image tokens; a per-class dot product gives the logits.

    Args:
        in_features: width of the encoder tokens.
        embed_dim: decoder width D.
        num_layers: decoder layers.
        num_heads: attention heads.
        ffn_hidden: hidden width of each layer's MLP.
        num_classes: K, one query per class (ML-Decoder uses min(100, classes) queries).
    """

    def __init__(
        self, in_features: int, embed_dim: int, num_layers: int, num_heads: int, ffn_hidden: int, num_classes: int
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(QueryDecoderLayer(embed_dim, num_heads, ffn_hidden) for _ in range(num_layers))
        self.embed_standart = nn.Linear(in_features, embed_dim)
        self.query_embed = nn.Embedding(num_classes, embed_dim)
        self.duplicate_pooling = nn.Parameter(torch.empty(num_classes, embed_dim, 1))
        self.duplicate_pooling_bias = nn.Parameter(torch.zeros(num_classes))
        nn.init.xavier_normal_(self.duplicate_pooling)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        memory = F.relu(self.embed_standart(tokens))
        queries = self.query_embed.weight.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        for layer in self.layers:
            queries = layer(queries, memory)
        return torch.einsum("bkd,kd->bk", queries, self.duplicate_pooling[..., 0]) + self.duplicate_pooling_bias


class MLDecoder(nn.Module):
    """The head as MotivNet names it: an outer module whose only child is `decoder`."""

    def __init__(self, decoder: QueryDecoder) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.decoder(tokens)
