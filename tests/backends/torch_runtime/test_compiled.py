"""A compiled model that fails to compile serves eagerly instead of failing; a bad batch still fails."""

from __future__ import annotations

import logging

import pytest
import torch
import torch._inductor.config as inductor_config
from torch._dynamo.utils import counters

from motivnet_serve.backends.torch_runtime.compiled import CompiledModel


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 3)).eval()


@pytest.mark.slow  # Inductor traces the model before the missing compiler fails (~4 s)
def test_a_compiler_failure_falls_back_to_eager_with_one_error_line(caplog: pytest.LogCaptureFixture):
    model = small_model()
    compiled = CompiledModel(model, "default", cache=None)
    batch = torch.randn(2, 8)
    no_compiler = {"cpp.cxx": ("/nonexistent/c++",), "fx_graph_cache": False, "freezing": False}
    with caplog.at_level(logging.ERROR), inductor_config.patch(no_compiler), torch.inference_mode():
        got = compiled(batch)
        again = compiled(batch)
        expected = model(batch)
    assert compiled.failed
    assert torch.equal(got, expected)
    assert torch.equal(again, expected)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("torch.compile failed")
    assert "eager" in errors[0]


def test_a_batch_that_fails_eagerly_too_is_the_batch_s_fault():
    compiled = CompiledModel(small_model(), "default", cache=None)
    with torch.inference_mode(), pytest.raises(RuntimeError):
        compiled(torch.randn(2, 5))
    assert not compiled.failed


class PatchModel(torch.nn.Module):
    """A patch embedding and a head: the shape of the encoder's input handling, at toy size."""

    def __init__(self) -> None:
        super().__init__()
        self.patches = torch.nn.Conv2d(3, 8, kernel_size=4, stride=4)
        self.head = torch.nn.Linear(8, 7)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.patches(pixels).flatten(2).transpose(1, 2)).mean(dim=1)


@pytest.mark.compile
@pytest.mark.slow
def test_only_the_batch_is_dynamic_so_the_image_size_stays_static():
    """Warm-up sizes share two graphs (batch 1, then a symbolic batch); a new image size compiles anew, which
    shows height and width were specialised (dynamic=True would have made them symbolic and slower)."""
    torch._dynamo.reset()
    counters.clear()
    compiled = CompiledModel(PatchModel().eval(), "default", cache=None)
    with torch.inference_mode():
        for size in (1, 2, 4, 8):
            compiled(torch.randn(size, 3, 32, 24))
        assert counters["stats"]["unique_graphs"] == 2
        compiled(torch.randn(2, 3, 36, 24))
    assert counters["stats"]["unique_graphs"] == 3
    assert not compiled.failed
