"""FP8 linears: numerically close to float32 on the CPU (torch's `_scaled_mm` runs there too), and refused
at start where there are no FP8 tensor cores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from motivnet_serve.backends.emotion.motivnet_predictor import MotivNetPredictor
from motivnet_serve.backends.emotion.spec import load_model_spec
from motivnet_serve.backends.torch_runtime.acceleration import Acceleration
from motivnet_serve.backends.torch_runtime.float8 import Float8Linear, quantize_rows, require_fp8_support, to_float8
from motivnet_serve.core.images import decode_image
from motivnet_serve.core.loading import load_predictor
from tests.conftest import ROOT

ASTRONAUT = ROOT / "bench" / "data" / "astronaut.jpg"


def test_rows_are_scaled_so_each_peak_lands_on_the_format_maximum():
    x = torch.tensor([[1.0, -2.0, 0.5], [1000.0, 3.0, -7.0]])
    q, scale = quantize_rows(x)
    assert q.dtype == torch.float8_e4m3fn
    assert scale.shape == (2, 1)
    assert q.float().abs().amax(dim=1).tolist() == [448.0, 448.0]
    assert torch.allclose(q.float() * scale, x, rtol=0.07)


def test_float8_linear_is_close_to_float32():
    torch.manual_seed(0)
    linear = nn.Linear(128, 96)
    x = torch.randn(4, 10, 128)
    expected = linear(x)
    got = Float8Linear(linear)(x)
    assert got.shape == expected.shape
    assert got.dtype == torch.float32
    relative = (got - expected).norm() / expected.norm()
    assert relative < 0.05, f"relative error {relative:.4f}"


@pytest.mark.slow  # two tiny MotivNets built and run (~3 s)
def test_tiny_motivnet_with_fp8_encoder_agrees_with_float32(tiny_dir: Path):
    spec = load_model_spec(tiny_dir)
    fp32 = MotivNetPredictor(spec, torch.device("cpu"), torch.float32)
    fp8 = MotivNetPredictor(spec, torch.device("cpu"), torch.float32)
    replaced = to_float8(fp8.model.pose_encoder)
    assert replaced == 4 * len(fp8.model.pose_encoder.layers)
    assert not any(isinstance(m, nn.Linear) for m in fp8.model.pose_encoder.modules())
    photo = decode_image(ASTRONAUT.read_bytes(), 40_000_000)
    faces = [photo, photo.flip(1), photo[:256], photo[:, 256:]]
    expected = fp32.predict(fp32.preprocess(faces))
    got = fp8.predict(fp8.preprocess(faces))
    assert (got - expected).abs().max() < 0.005
    assert torch.equal(got.argmax(dim=1), expected.argmax(dim=1))


def test_fp8_is_refused_on_a_cpu_before_any_weights_are_read(tiny_dir: Path):
    with pytest.raises(ValueError, match="FP8 tensor cores"):
        load_predictor(str(tiny_dir), tiny_dir.parent, "cpu", "auto", Acceleration(fp8=True))
    with pytest.raises(ValueError, match="Unset MOTIVNET_FP8"):
        require_fp8_support(torch.device("cpu"), torch.bfloat16)


@pytest.mark.slow  # a Python process that imports torch (~3 s)
def test_the_server_refuses_to_start_with_fp8_on_a_cpu(tiny_dir: Path):
    command = [sys.executable, "-m", "motivnet_serve", "predict", "--model-dir", str(tiny_dir), "--device", "cpu"]
    command.append(str(ASTRONAUT))
    env = dict(os.environ, MOTIVNET_FP8="true")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "fp8 needs an NVIDIA GPU with FP8 tensor cores" in done.stderr


@pytest.mark.gpu
def test_fp8_on_a_gpu_matches_bfloat16_or_is_refused_by_capability():
    device = torch.device("cuda")
    if torch.cuda.get_device_capability(device) < (8, 9):
        with pytest.raises(ValueError, match=r"compute capability 8\.9"):
            require_fp8_support(device, torch.bfloat16)
        return
    torch.manual_seed(0)
    linear = nn.Linear(256, 512).to(device, torch.bfloat16)
    x = torch.randn(3, 17, 256, device=device, dtype=torch.bfloat16)
    expected, got = linear(x).float(), Float8Linear(linear)(x).float()
    assert (got - expected).norm() / expected.norm() < 0.05
