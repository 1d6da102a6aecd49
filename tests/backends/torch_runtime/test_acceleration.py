"""Settings words to what the loader does: compile 'auto' is CUDA-only; the cache folder is optional."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from motivnet_serve.backends.torch_runtime.acceleration import Acceleration
from motivnet_serve.backends.torch_runtime.compiled import CompiledModel
from motivnet_serve.core.loading import acceleration_of, load_predictor
from motivnet_serve.settings import Settings


@pytest.mark.parametrize(("word", "expected"), [("auto", "auto"), ("true", True), ("false", False), ("1", True)])
def test_compile_setting_reads_auto_or_a_boolean(monkeypatch: pytest.MonkeyPatch, word: str, expected):
    monkeypatch.setenv("MOTIVNET_COMPILE", word)
    assert Settings().compile.enabled == expected


def test_auto_compiles_on_cuda_only():
    auto = Acceleration(compile="auto")
    assert auto.resolved(torch.device("cpu"), torch.float32).compile is False
    assert auto.resolved(torch.device("cuda"), torch.bfloat16).compile is True
    assert Acceleration(compile=True).resolved(torch.device("cpu"), torch.float32).compile is True


def test_settings_become_options_with_the_home_folder_expanded():
    options = acceleration_of(Settings.from_flat(compile_mode="reduce-overhead", fp8=True).compile)
    assert options.compile == "auto"
    assert options.mode == "reduce-overhead"
    assert options.fp8
    assert options.cache_dir == Path.home() / ".cache" / "motivnet" / "compile"
    assert acceleration_of(Settings.from_flat(compile_cache_dir="").compile).cache_dir is None


def test_the_default_on_a_cpu_serves_the_eager_model(tiny_dir: Path):
    predictor = load_predictor(str(tiny_dir), tiny_dir.parent, "cpu", "auto", acceleration_of(Settings().compile))
    assert isinstance(predictor.model, torch.nn.Module)
    assert not isinstance(predictor.model, CompiledModel)
    predictor.warmed_up()
