"""ONNX exports of every model family, run by ONNX Runtime against the served torch model on real face crops.

Each parity line is printed (run with -s to see it); the tolerance would catch a wrong export: a missing
softmax, a swapped class order, a dropped layer or a wrong normalisation moves probabilities by far more.
Every export takes seconds, so those tests are marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from motivnet_serve.backends.emotion.motivnet_predictor import MotivNetPredictor
from motivnet_serve.backends.emotion.predictor import file_sha256
from motivnet_serve.backends.emotion.spec import MOTIVNET_LABELS, SAPIENS_PRESETS, load_model_spec
from motivnet_serve.backends.export.onnx import export_detector, export_emotion, read_metadata
from motivnet_serve.backends.export.parity import Parity, detector_parity, emotion_parity, onnx_session
from motivnet_serve.backends.faces.retinaface_mobilenet import load_rgb_network
from motivnet_serve.core.loading import load_predictor
from tests.conftest import MODEL_STORE, TINY_DIR

TOLERANCE = 1e-4


def assert_parity(parity: Parity, rows: int) -> None:
    print(f"\n{parity}")  # noqa: T201 - the measured parity, shown with -s
    assert parity.rows == rows
    assert parity.max_abs_diff < TOLERANCE
    assert parity.top1_agreement == 1.0


def graph_dims(path: Path) -> dict[str, list[int | str]]:
    graph = onnx.load(str(path), load_external_data=False).graph
    return {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (*graph.input, *graph.output)
    }


@pytest.fixture(scope="module")
def mini_xception(bundled_weights, tmp_path_factory):
    """mini-Xception exported at opset 19 and its served predictor (frozen, as the service runs it)."""
    spec = load_model_spec(bundled_weights / "mini-xception")
    exported = export_emotion(spec, tmp_path_factory.mktemp("mini") / "mini.onnx", opset=19)
    return exported, load_predictor(str(spec.folder), bundled_weights, "cpu", "float32")


@pytest.mark.slow
def test_mini_xception_matches_the_served_model_on_real_faces(mini_xception, face_crops):
    exported, predictor = mini_xception
    assert_parity(emotion_parity(predictor, exported.path, face_crops), rows=8)
    metadata = read_metadata(exported.path)
    assert metadata["opset"] == "19"
    assert onnx.load(str(exported.path)).opset_import[0].version == 19
    assert metadata["checkpoint_sha256"] == predictor.info.checkpoint_sha256
    assert json.loads(metadata["labels"]) == list(MOTIVNET_LABELS)
    assert graph_dims(exported.path) == {"pixels": ["batch", 1, 64, 64], "probabilities": ["batch", 7]}


@pytest.mark.slow
def test_batch_axis_is_dynamic(mini_xception, face_crops):
    """One face alone and all eight together give the same probabilities as the served model."""
    exported, predictor = mini_xception
    session = onnx_session(exported.path)
    batch = predictor.preprocess(face_crops)
    for rows in (batch[:1], batch):
        (got,) = session.run(["probabilities"], {"pixels": rows.numpy()})
        np.testing.assert_allclose(got, predictor.predict(rows).numpy(), atol=TOLERANCE)


@pytest.mark.slow
def test_motivnet_tiny_matches_the_served_model_on_real_faces(face_crops, tmp_path):
    spec = load_model_spec(TINY_DIR)
    exported = export_emotion(spec, tmp_path / "tiny.onnx")
    predictor = MotivNetPredictor(spec, torch.device("cpu"), torch.float32)
    assert_parity(emotion_parity(predictor, exported.path, face_crops[:4]), rows=4)
    assert graph_dims(exported.path) == {"pixels": ["batch", 3, 1024, 768], "probabilities": ["batch", 7]}
    assert read_metadata(exported.path)["checkpoint_sha256"] == file_sha256(spec.checkpoint_path)


@pytest.mark.slow
def test_sapiens_cpu_preset_matches_on_real_faces(face_crops, tmp_path):
    """A Sapiens preset's encoder (random weights, saved as a model folder would hold them)."""
    from bench.random_model import make_random_model_folder

    spec = load_model_spec(make_random_model_folder(tmp_path / "model", "sapiens-cpu", torch.float32))
    exported = export_emotion(spec, tmp_path / "sapiens-cpu.onnx")
    predictor = MotivNetPredictor(spec, torch.device("cpu"), torch.float32)
    assert_parity(emotion_parity(predictor, exported.path, face_crops[:2]), rows=2)


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(set(SAPIENS_PRESETS) - {"sapiens-cpu"}))
def test_every_full_size_preset_exports_its_graph(preset, tmp_path):
    """Full width and heads of each size, two blocks deep, traced on the meta device without weights.

    The blocks of a preset are one module repeated `depth` times, so the graph of two proves the graph of
    all of them (the 1B size at its full 40 blocks, 45 s more, is measured in docs/integrations/onnx-triton.md).
    """
    folder = _spec_folder(tmp_path, {"preset": preset, "depth": 2})
    exported = export_emotion(load_model_spec(folder), tmp_path / "graph.onnx", weights=False)
    assert graph_dims(exported.path) == {"pixels": ["batch", 3, 1024, 768], "probabilities": ["batch", 7]}
    assert read_metadata(exported.path)["weights"].startswith("none")


def _spec_folder(tmp_path: Path, architecture: dict[str, object]) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"name": "sized", "architecture": architecture}))
    return folder


@pytest.mark.slow
def test_detector_matches_on_real_photos(bundled_weights, face_photos, tmp_path):
    weights = bundled_weights / "detectors" / "mobilenet0.25_Final.pth"
    exported = export_detector("retinaface-mobilenet", weights, tmp_path / "detector.onnx")
    network = load_rgb_network(weights, torch.device("cpu"))
    anchors = sum(2 * sum(-(-h // s) * -(-w // s) for s in (8, 16, 32)) for h, w, _ in (p.shape for p in face_photos))
    assert_parity(detector_parity(network, exported.path, face_photos), rows=anchors)
    assert graph_dims(exported.path)["rgb"] == ["batch", 3, "rgb_2", "rgb_3"]
    assert read_metadata(exported.path)["checkpoint_sha256"] == file_sha256(weights)


def test_opsets_below_18_are_refused_before_any_work(bundled_weights, tmp_path):
    with pytest.raises(ValueError, match="opset 18 or above"):
        export_emotion(load_model_spec(bundled_weights / "mini-xception"), tmp_path / "x.onnx", opset=17)
    assert not (tmp_path / "x.onnx").exists()


def test_only_the_bundled_detector_exports(tmp_path):
    with pytest.raises(ValueError, match="retinaface-mobilenet"):
        export_detector("retinaface", MODEL_STORE / "detectors" / "retinaface.pth", tmp_path / "x.onnx")
