"""How a model runs once its weights are loaded: compiled or eager, with or without FP8 linears.

The settings say 'auto' or a choice; `resolved` turns that into what a family's loader acts on, once the
device is known, and refuses what cannot work there before 4.6 GB of weights are read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch

from motivnet_serve.backends.torch_runtime.float8 import require_fp8_support


@dataclass(frozen=True)
class Acceleration:
    """Args:
    compile: torch.compile the model; 'auto' means on CUDA only (CPU compiles take minutes for little).
    mode: torch.compile's mode.
    cache_dir: where compiled kernels are kept between starts; None keeps none.
    fp8: the encoder's linear layers in FP8.
    """

    compile: bool | Literal["auto"] = False
    mode: str = "default"
    cache_dir: Path | None = None
    fp8: bool = False

    def resolved(self, device: torch.device, dtype: torch.dtype) -> Acceleration:
        """'auto' decided for `device`; FP8 refused (ValueError saying why) where it cannot run."""
        if self.fp8:
            require_fp8_support(device, dtype)
        compile_model = device.type == "cuda" if self.compile == "auto" else self.compile
        return replace(self, compile=compile_model)


EAGER = Acceleration()
