"""model.json: defaults, presets and the errors a user sees for a bad folder."""

from __future__ import annotations

import json
import re

import pytest

from motivnet_serve.backends.emotion.spec import MOTIVNET_LABELS, ModelSpecError, load_model_spec


def test_bundled_full_model_spec_is_motivnet_1b():
    from tests.conftest import ROOT

    spec = load_model_spec(ROOT / "model_store" / "motivnet")
    assert (spec.architecture.embed_dim, spec.architecture.depth, spec.architecture.num_heads) == (1536, 40, 24)
    assert spec.labels == MOTIVNET_LABELS
    assert spec.checkpoint == "MotivNet.pth"
    assert spec.preprocess.mode == "letterbox"


def test_tiny_spec_matches_reference_architecture(tiny_dir, expected):
    dims = load_model_spec(tiny_dir).architecture.model_dump(exclude={"preset"})
    assert {key: list(v) if isinstance(v, tuple) else v for key, v in dims.items()} == expected["architecture"]


def test_empty_architecture_defaults_to_motivnet_1b(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"name": "x"}))
    spec = load_model_spec(tmp_path)
    assert spec.architecture.mlp_hidden == 6144
    assert spec.architecture.decoder_embedding == 1152


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"name": "x", "architecture": {"embed_dims": 3}}), "architecture.embed_dims"),
        (json.dumps({"name": "x", "labels": ["a", "b"]}), "2 labels for num_classes 7"),
        (json.dumps({"name": "x", "preprocess": {"mode": "crop"}}), "preprocess.mode"),
    ],
)
def test_bad_model_json_names_the_problem(tmp_path, content, fragment):
    (tmp_path / "model.json").write_text(content)
    with pytest.raises(ModelSpecError, match=re.escape(fragment)):
        load_model_spec(tmp_path)


def test_missing_model_json(tmp_path):
    with pytest.raises(ModelSpecError, match=r"needs a model\.json"):
        load_model_spec(tmp_path)
