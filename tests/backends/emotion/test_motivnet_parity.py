"""Our MotivNet against the numbers the upstream code produced for the shared tiny checkpoint."""

from __future__ import annotations

import pytest
import torch

from motivnet_serve.backends.emotion.motivnet_predictor import MotivNetPredictor
from motivnet_serve.backends.emotion.spec import load_model_spec


def _predictor(tiny_dir, dtype=torch.float32) -> MotivNetPredictor:
    return MotivNetPredictor(load_model_spec(tiny_dir), torch.device("cpu"), dtype)


def test_logits_from_upstream_pixels_match_reference(tiny_dir, reference_pixels, expected):
    predictor = _predictor(tiny_dir)
    with torch.inference_mode():
        logits = predictor.model(predictor.preprocessor.normalize(reference_pixels))
    assert torch.allclose(logits[0], torch.tensor(expected["expected_logits"]), atol=1e-4, rtol=0)


def test_encoder_features_match_reference_statistics(tiny_dir, reference_pixels, expected):
    predictor = _predictor(tiny_dir)
    with torch.inference_mode():
        tokens = predictor.model.forward_features(predictor.preprocessor.normalize(reference_pixels))
    assert abs(tokens.mean().item() - expected["expected_feature_mean"]) < 1e-5
    assert abs(tokens.std().item() - expected["expected_feature_std"]) < 1e-4


def test_probabilities_from_photo_end_to_end(tiny_dir, face_rgb, expected):
    predictor = _predictor(tiny_dir)
    probabilities = predictor.predict(predictor.preprocess([face_rgb]))[0]
    assert torch.allclose(probabilities, torch.tensor(expected["expected_probabilities"]), atol=2e-3, rtol=0)
    assert predictor.info.labels[int(probabilities.argmax())] == expected["expected_label"]


@pytest.mark.slow  # three forwards of the tiny MotivNet (~3 s)
def test_batch_rows_equal_single_images(tiny_dir, face_rgb):
    predictor = _predictor(tiny_dir)
    flipped = face_rgb.flip(1).contiguous()
    batch = predictor.predict(predictor.preprocess([face_rgb, flipped]))
    singles = torch.cat([predictor.predict(predictor.preprocess([image])) for image in (face_rgb, flipped)])
    assert torch.allclose(batch, singles, atol=1e-5)
    assert not torch.allclose(batch[0], batch[1], atol=1e-3)


def test_bfloat16_agrees_with_float32(tiny_dir, face_rgb):
    fp32 = _predictor(tiny_dir).predict
    bf16_predictor = _predictor(tiny_dir, torch.bfloat16)
    reference = fp32(_predictor(tiny_dir).preprocess([face_rgb]))[0]
    reduced = bf16_predictor.predict(bf16_predictor.preprocess([face_rgb]))[0]
    assert bf16_predictor.model.pose_encoder.pos_embed.dtype == torch.bfloat16
    assert reduced.dtype == torch.float32
    assert int(reduced.argmax()) == int(reference.argmax())
    assert (reduced - reference).abs().max() < 2e-2


def test_model_info_reports_checkpoint_hash(tiny_dir, expected):
    info = _predictor(tiny_dir).info
    assert info.checkpoint_sha256 == expected["checkpoint_sha256"]
    assert info.labels == tuple(expected["labels"])
