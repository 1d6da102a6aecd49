"""A torch.compile'd model that never stops the service: a compile failure falls back to the eager model.

Compilation happens lazily, at the first forward of each new shape (the warm-up, normally). Only the batch
dimension becomes dynamic (torch's automatic dynamic shapes: batch 1 gets its own graph, and the second size
met makes the batch symbolic); the image size is fixed by the model and stays static. `dynamic=True` made
height and width symbolic too: on an H100 that server reached 0.886 of a static compile (48.7 against 54.9
images/s), and on an H200 its bare forward gave 49.4 (docs/performance.md).

If the compiled call raises and the eager model then succeeds on the same batch, the compiler was at fault:
one error line is logged and the eager model serves from then on. If eager fails too, the batch was at
fault, and its error goes to the batch step as usual.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from motivnet_serve.backends.torch_runtime.compile_cache import CompileCache

log = logging.getLogger(__name__)


class CompiledModel:
    """Args:
    model: the loaded eager model (its parameters are shared, not copied).
    mode: torch.compile's mode.
    cache: where the compiled kernels are read before compiling and saved after warm-up; None: nowhere.
    """

    def __init__(self, model: nn.Module, mode: str, cache: CompileCache | None) -> None:
        self.eager = model
        self.cache = cache
        self.cache_outcome = cache.load() if cache else "absent"
        self.compiled = torch.compile(model, mode=mode, dynamic=None)
        self.failed = False

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if self.failed:
            return self.eager(batch)
        try:
            return self.compiled(batch)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any compile failure falls back to the eager model below
            result = self.eager(batch)
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            log.error("torch.compile failed (%s: %s); serving the eager model", type(exc).__name__, first_line)
            self.failed = True
            return result

    def warmed_up(self) -> None:
        """Saves the kernels compiled during warm-up, unless they came from the cache or failed."""
        if self.cache and self.cache_outcome != "loaded" and not self.failed:
            self.cache.save()
