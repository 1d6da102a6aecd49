"""FP8 linear layers (e4m3 weights and activations, one scale per row) through torch's `_scaled_mm`.

Why per row: one scale per output channel of the weight and per token of the activations keeps an outlier
token or channel from crushing the others into FP8's 3 mantissa bits. Activations are scaled on the fly
(dynamic), so nothing needs calibrating. FP8 tensor cores exist from compute capability 8.9 (Ada, Hopper);
elsewhere this path would be slower than bfloat16, so the service refuses it there.
"""

from __future__ import annotations

import torch
from torch import nn

E4M3 = torch.float8_e4m3fn
E4M3_MAX = torch.finfo(E4M3).max
FP8_CAPABILITY = (8, 9)


def require_fp8_support(device: torch.device, dtype: torch.dtype) -> None:
    """Raises ValueError saying why FP8 cannot run here, and what to change."""
    if device.type != "cuda":
        raise ValueError(
            f"fp8 needs an NVIDIA GPU with FP8 tensor cores (compute capability 8.9+: L4, L40S, H100, H200); "
            f"the device is {device}. Unset MOTIVNET_FP8."
        )
    capability = torch.cuda.get_device_capability(device)
    if capability < FP8_CAPABILITY:
        name = torch.cuda.get_device_name(device)
        raise ValueError(
            f"fp8 needs FP8 tensor cores (compute capability 8.9+); {name} has {capability[0]}.{capability[1]}. "
            "Unset MOTIVNET_FP8."
        )
    if dtype != torch.bfloat16:
        raise ValueError(
            f"fp8 computes in bfloat16 around its matmuls, not {dtype}; set MOTIVNET_DTYPE=auto or bfloat16"
        )


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x [M, K] -> (e4m3 [M, K], float32 scale [M, 1]) with x ~= e4m3 * scale; each row's peak maps to 448."""
    scale = x.abs().amax(dim=-1, keepdim=True).float().clamp_(min=1e-12) / E4M3_MAX
    return (x.float() / scale).clamp_(-E4M3_MAX, E4M3_MAX).to(E4M3), scale


class Float8Linear(nn.Module):
    """An `nn.Linear` whose matmul runs in FP8: weights quantised once here, activations per call.

    Args:
        linear: the loaded layer; its weight dtype becomes the output dtype.
    """

    weight: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight, scale = quantize_rows(linear.weight.detach())
        self.register_buffer("weight", weight)
        self.register_buffer("weight_scale", scale.t().contiguous())
        bias = linear.bias.detach() if linear.bias is not None else None
        self.register_buffer("bias", bias)
        self.out_dtype = linear.weight.dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, scale = quantize_rows(x.reshape(-1, x.shape[-1]))
        out = torch._scaled_mm(
            rows, self.weight.t(), scale_a=scale, scale_b=self.weight_scale, out_dtype=self.out_dtype
        )
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], out.shape[-1])


def to_float8(module: nn.Module) -> int:
    """Replaces every `nn.Linear` inside `module` by a `Float8Linear`, in place; returns how many."""
    targets = [(name, child) for name, child in module.named_modules() if isinstance(child, nn.Linear)]
    for name, linear in targets:
        parent_name, _, attribute = name.rpartition(".")
        setattr(module.get_submodule(parent_name), attribute, Float8Linear(linear))
    return len(targets)
