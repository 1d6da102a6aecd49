"""The full-size model by construction: the official manifest key for key, and each Sapiens preset's size."""

from __future__ import annotations

import time

import pytest

from motivnet_serve.backends.emotion.motivnet import build_motivnet
from motivnet_serve.backends.emotion.predictor import count_parameters
from motivnet_serve.backends.emotion.spec import SAPIENS_PRESETS, Architecture


def expected_parameters(embed: int, depth: int, mlp: int, dec: int = 1152, ffn: int = 2048, classes: int = 7) -> int:
    """Counted by hand from the architecture description, independently of the module code."""
    block = 2 * embed + (3 * embed * embed + 3 * embed) + (embed * embed + embed) + 2 * embed
    block += (embed * mlp + mlp) + (mlp * embed + embed)
    encoder = 3072 * embed + (3 * 16 * 16 * embed + embed) + depth * block + 2 * embed
    layer = 2 * dec + (3 * dec * dec + 3 * dec) + (dec * dec + dec) + (dec * ffn + ffn) + (ffn * dec + dec) + 4 * dec
    head = (embed * dec + dec) + classes * dec + 2 * layer + classes * dec + classes
    return encoder + head


def test_meta_model_matches_official_manifest(manifest):
    model = build_motivnet(Architecture())
    shapes = {key: list(tensor.shape) for key, tensor in model.state_dict().items()}
    assert shapes == manifest["keys"]
    assert list(shapes) == list(manifest["keys"])
    assert count_parameters(model) == manifest["num_parameters"] == 1_161_033_863


def test_encoder_size_matches_reference():
    model = build_motivnet(Architecture())
    assert count_parameters(model.pose_encoder) == 1_139_163_648


def test_meta_build_is_fast_and_allocates_nothing():
    start = time.perf_counter()
    model = build_motivnet(Architecture(preset="sapiens-2b"))
    assert time.perf_counter() - start < 1.0
    assert all(p.is_meta for p in model.parameters())


@pytest.mark.parametrize("preset", sorted(SAPIENS_PRESETS))
def test_each_preset_has_expected_parameter_count(preset):
    dims = SAPIENS_PRESETS[preset]
    model = build_motivnet(Architecture(preset=preset))
    decoder = {"dec": dims.get("decoder_embedding", 1152), "ffn": dims.get("decoder_ffn", 2048)}
    assert count_parameters(model) == expected_parameters(
        dims["embed_dim"], dims["depth"], dims["mlp_hidden"], **decoder
    )
    assert model.pose_encoder.layers[0].attn.num_heads == dims["num_heads"]


def test_explicit_keys_override_preset():
    arch = Architecture(preset="sapiens-0.3b", depth=3)
    assert (arch.embed_dim, arch.depth) == (1024, 3)


def test_inconsistent_token_grid_is_refused():
    with pytest.raises(ValueError, match="num_tokens"):
        Architecture(input_hw=(512, 512))
