"""Small convolutional networks frozen for the CPU: traced once, then run by TorchScript without the GIL.

An eager forward of a small network is a hundred short kernels, and between any two of them the calling
thread must take the GIL back. While the event loop, the video decoder and a second worker all want it, an
eager MobileNet ran three times slower in the server than alone. A traced and frozen graph runs the whole
forward in C++ with the GIL released, folds each BatchNorm into the convolution before it, and keeps the
activations channels-last, where oneDNN's depthwise and 3x3 kernels are fastest on the CPU. Results match
the eager network to float rounding (the parity tests bound it).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.jit._trace import TracerWarning


class ChannelsLastInput(nn.Module):
    """Hands the network its input channels-last, so every convolution after it stays so."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        output: torch.Tensor | tuple[torch.Tensor, ...] = self.network(x.contiguous(memory_format=torch.channels_last))
        return output


def frozen_on_cpu(
    network: nn.Module, example: torch.Tensor, device: torch.device, *, fixed_size: bool = False
) -> nn.Module:
    """On the CPU, `network` (eval mode) traced on `example` and frozen, its weights turned channels-last; on
    other devices the eager network, whose kernels each run long enough that the GIL between them costs
    nothing.

    The trace keeps tensor sizes symbolic, so any input size and batch size run as the eager network would;
    the network must not branch in Python on its input's values, which a convolutional network does not.
    `fixed_size` says the network will only ever see the example's height and width, so sizes it computes
    in Python may rightly become constants (torch warns of each; those warnings are then expected).

    torch 2.13 marks `torch.jit.trace` deprecated in favour of `torch.export`; an exported program runs op
    by op in Python again, and compiling it ahead (AOTInductor) means a C++ build at start-up, so tracing
    stays until one of them runs a small network as well. Its deprecation notice is not repeated here.
    """
    if device.type != "cpu":
        return network
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if fixed_size:
            warnings.simplefilter("ignore", TracerWarning)
        network = network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # (untyped in torch)
        # check_trace=False: the check traces a second time and compares with `assert_close`, whose import of
        # torch.distributed.tensor alone took 0.8 s, 1.6 s of every start for two networks; the parity tests
        # compare the frozen graphs with the eager networks instead.
        traced = torch.jit.trace(  # type: ignore[no-untyped-call]
            ChannelsLastInput(network).eval(), example, check_trace=False
        )
        frozen: nn.Module = torch.jit.freeze(traced)
    return frozen
