"""Detection on its own CUDA stream, so it overlaps the emotion model's forward instead of queueing behind it.

The model's batch step runs on the device's default stream (another thread). Work queued on a second stream
runs alongside it; `hand_over` makes the results safe to use there: the detection thread waits for its own
stream's work (an event, not a device-wide sync, so the model's forward is not waited for), and the caching
allocator is told the tensors will be used on the default stream, so their memory is not reused by the next
detection while the model still reads them. On a CPU (or MPS) both are no-ops.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch


class SideStream:
    def __init__(self, device: torch.device) -> None:
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None  # type: ignore[no-untyped-call]

    @contextmanager
    def running(self) -> Iterator[None]:
        """GPU work queued inside goes to the side stream (for the calling thread only)."""
        if self.stream is None:
            yield
            return
        with torch.cuda.stream(self.stream):
            yield

    def hand_over(self, tensors: Iterable[torch.Tensor]) -> None:
        """Returns once `tensors` are computed; from then on the default stream may read them."""
        if self.stream is None:
            return
        consumer = torch.cuda.default_stream(self.stream.device)
        for tensor in tensors:
            if tensor.is_cuda:
                tensor.record_stream(consumer)
        self.stream.record_event().synchronize()
