"""Every supported weight format gives the same model; every broken file gives one clear error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from motivnet_serve.backends.emotion.checkpoint import CheckpointError, load_weights, read_state_dict
from motivnet_serve.backends.emotion.motivnet import build_motivnet
from motivnet_serve.backends.emotion.spec import load_model_spec

CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tiny_state(tiny_dir) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in read_state_dict(tiny_dir / "tiny_motivnet.pth").items()}


def _logits(tiny_dir: Path, checkpoint: Path, pixels: torch.Tensor) -> torch.Tensor:
    model = load_weights(build_motivnet(load_model_spec(tiny_dir).architecture), checkpoint, CPU, torch.float32)
    with torch.inference_mode():
        return model(pixels)


def test_pth_ckpt_and_safetensors_give_identical_outputs(tmp_path, tiny_dir, tiny_state):
    lightning = {"epoch": 3, "global_step": 120, "state_dict": {f"model.{k}": v for k, v in tiny_state.items()}}
    torch.save(lightning, tmp_path / "tiny.ckpt")
    save_file(tiny_state, str(tmp_path / "tiny.safetensors"))
    pixels = torch.randn(1, 3, 1024, 768, generator=torch.Generator().manual_seed(0))
    reference = _logits(tiny_dir, tiny_dir / "tiny_motivnet.pth", pixels)
    for name in ("tiny.ckpt", "tiny.safetensors"):
        assert torch.equal(_logits(tiny_dir, tmp_path / name, pixels), reference), name


def test_loads_into_requested_dtype(tiny_dir):
    model = build_motivnet(load_model_spec(tiny_dir).architecture)
    load_weights(model, tiny_dir / "tiny_motivnet.pth", CPU, torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert not any(p.is_meta for p in model.parameters())


def _load_broken(tiny_dir: Path, path: Path) -> str:
    model = build_motivnet(load_model_spec(tiny_dir).architecture)
    with pytest.raises(CheckpointError) as error:
        load_weights(model, path, CPU, torch.float32)
    return str(error.value)


def test_missing_key_is_named(tmp_path, tiny_dir, tiny_state):
    state = dict(tiny_state)
    del state["pose_encoder.ln1.bias"]
    torch.save(state, tmp_path / "missing.pth")
    assert "1 missing: pose_encoder.ln1.bias" in _load_broken(tiny_dir, tmp_path / "missing.pth")


def test_unexpected_key_is_named(tmp_path, tiny_dir, tiny_state):
    torch.save({**tiny_state, "decoder.extra.weight": torch.zeros(2)}, tmp_path / "extra.pth")
    assert "1 unexpected: decoder.extra.weight" in _load_broken(tiny_dir, tmp_path / "extra.pth")


def test_wrong_shape_is_named(tmp_path, tiny_dir, tiny_state):
    torch.save({**tiny_state, "pose_encoder.pos_embed": torch.zeros(1, 3072, 32)}, tmp_path / "shape.pth")
    message = _load_broken(tiny_dir, tmp_path / "shape.pth")
    assert "1 mis-shaped: pose_encoder.pos_embed [1, 3072, 32] (model wants [1, 3072, 64])" in message


def test_full_size_checkpoint_for_tiny_model_lists_many_problems(tmp_path, tiny_dir, tiny_state):
    torch.save({f"encoder.{k}": v for k, v in tiny_state.items()}, tmp_path / "renamed.pth")
    message = _load_broken(tiny_dir, tmp_path / "renamed.pth")
    assert "62 missing" in message
    assert "62 unexpected" in message
    assert ", ..." in message


class Payload:
    """Stands for any object a hostile pickle could smuggle in."""


def test_pickled_object_is_refused(tmp_path, tiny_dir, tiny_state):
    torch.save({**tiny_state, "evil": Payload()}, tmp_path / "evil.pth")
    assert "refused for safety" in _load_broken(tiny_dir, tmp_path / "evil.pth")


@pytest.mark.parametrize("name", ["truncated.pth", "truncated.safetensors"])
def test_truncated_file_is_reported(tmp_path, tiny_dir, tiny_state, name):
    full = tmp_path / f"full{Path(name).suffix}"
    if full.suffix == ".pth":
        shutil.copy(tiny_dir / "tiny_motivnet.pth", full)
    else:
        save_file(tiny_state, str(full))
    data = full.read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt" in _load_broken(tiny_dir, tmp_path / name)


def test_absent_file_points_to_model_store_readme(tmp_path, tiny_dir):
    assert "model_store/README.md" in _load_broken(tiny_dir, tmp_path / "MotivNet.pth")


def test_non_state_dict_is_refused(tmp_path, tiny_dir):
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    assert "not a state dict" in _load_broken(tiny_dir, tmp_path / "list.pth")


@pytest.mark.slow  # a Python process that imports torch (~3 s)
def test_unreadable_file_says_permission_denied_and_names_it():
    """Root reads any file, so as root the probe runs without the two capabilities that let it.

    Dropping capabilities rather than switching to `nobody` keeps the probe able to import the project
    from a clone in a private folder (`mktemp -d` makes it 0700). safetensors alone says "No such file".
    """
    folder = Path(tempfile.mkdtemp(prefix="motivnet-perm-"))
    try:
        path = folder / "weights.safetensors"
        save_file({"w": torch.zeros(2)}, str(path))
        path.chmod(0o000)
        without_override = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.getuid() == 0 else []
        code = f"from motivnet_serve.backends.emotion.checkpoint import read_state_dict; read_state_dict({str(path)!r})"
        done = subprocess.run(
            [*without_override, sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0
        assert f"{path}: permission denied" in done.stderr.strip().splitlines()[-1]
    finally:
        shutil.rmtree(folder)
